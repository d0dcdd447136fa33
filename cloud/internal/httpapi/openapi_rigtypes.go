package httpapi

import (
	"fmt"
	"math"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// exRigTypeSummary is the summary of the story's firmware config
// (exFleetRigYAML).
func exRigTypeSummary() fleetapi.RigTypeSummary {
	cfg, err := rig.Parse("example", []byte(exFleetRigYAML))
	if err != nil {
		panic(fmt.Sprintf("httpapi: the example firmware config is not valid: %v", err))
	}
	return summarize(cfg)
}

// rigTypeOperations documents the rig-type registry (rigtypes.go). The
// examples register the story's rig type, zema-testrig, with the admin
// token (id 2) after the story's rig was created.
func rigTypeOperations() []Operation {
	sum := exRigTypeSummary()
	t := fleetapi.RigType{Name: sum.Name, Version: 1, Digest: sum.Digest, TopologyVersion: sum.TopologyVersion,
		Components: sum.Components, Edges: sum.Edges, Sensors: sum.Sensors, Targets: sum.Targets,
		CreatedBy: ptr(int64(2)), CreatedAt: exT0}
	withConfig := t
	withConfig.Config = exFleetRigYAML
	uploaded := fleetapi.RigTypeUpload{RigType: t, New: true}
	body := fleetapi.RigTypeRequest{Config: exFleetRigYAML}
	const bodyNote = "The firmware config is the JSON body's config, or the whole body with Content-Type application/yaml " +
		"(at most 1 MiB). It is parsed and validated as the agent does (shared/rig): 422 invalid-rig-config lists each problem, " +
		"its pointer the key path (/sensors/3/unit) and its detail the line and column; a NUL byte or invalid UTF-8 " +
		"(even in a comment) is 422 too. "
	return []Operation{
		{Method: "POST", Path: "/v1/rig-types/validate", ID: "validateRigType", Tag: "rig-types",
			Summary:     "Validate a firmware config without storing it: its rig type, digest and counts",
			Description: bodyNote + "digest is the firmware-config digest model bundles are bound to (config_digest).",
			Auth:        AuthToken, Role: "viewer", Body: body, Status: 200, Response: sum, Errors: []int{422}},
		{Method: "POST", Path: "/v1/rig-types", ID: "putRigType", Tag: "rig-types",
			Summary: "Register a firmware config as a version of its rig type (rig_type names it)",
			Description: bodyNote + "Versions are immutable and numbered from 1 per rig type. Content already stored under the rig type " +
				"(the same digest: comments and layout do not count) answers that version with 200; other content is stored as the " +
				"next version (201); new says which (true: stored by this upload, 201; false: already stored, 200). Once an organisation has registered a rig type, POST /v1/rigs refuses rig types it has not " +
				"registered (422). 409 quota-exceeded when the organisation holds quotas.max_rig_type_versions versions (default " +
				"1000, all rig types together) and the content is new: an admin deletes old versions (DELETE /v1/rig-types/{name}?version=N).",
			Auth: AuthToken, Role: "operator", Body: body, Status: 201, Response: uploaded,
			Also:   map[int]string{200: "the content is already stored under the rig type (the same digest): that version, new false"},
			Errors: []int{409, 422}},
		{Method: "GET", Path: "/v1/rig-types", ID: "listRigTypes", Tag: "rig-types",
			Summary: "List the organisation's rig types by name, each at its latest version",
			Auth:    AuthToken, Role: "viewer", Params: listParams(), Status: 200,
			Response: fleetapi.Page[fleetapi.RigType]{Items: []fleetapi.RigType{t}}},
		{Method: "GET", Path: "/v1/rig-types/:name", ID: "getRigType", Tag: "rig-types",
			Summary: "A rig type: its latest version (or ?version=N) with its summary and firmware config (YAML, as uploaded)",
			Auth:    AuthToken, Role: "viewer",
			Params: []Param{{Name: "name", In: "path", Description: "the rig type"},
				{Name: "version", In: "query", Type: "integer", Max: math.MaxInt32, Description: "the version (default: the latest)"}},
			Status: 200, Response: withConfig, Example: Example{Path: "/v1/rig-types/zema-testrig?version=1"}},
		{Method: "GET", Path: "/v1/rig-types/:name/versions", ID: "listRigTypeVersions", Tag: "rig-types",
			Summary: "List every version of a rig type, oldest first (no configs; the cursor is the version the page starts after)",
			Description: "404 when the organisation has no version of the rig type. Deleted versions are not listed, so " +
				"the numbers may have gaps. 400 invalid-parameter for a cursor above 2147483647 (versions are the database's integer).",
			Auth: AuthToken, Role: "viewer",
			Params: listParams(Param{Name: "name", In: "path", Description: "the rig type"}),
			Status: 200, Response: fleetapi.Page[fleetapi.RigType]{Items: []fleetapi.RigType{t}},
			Example: Example{Path: "/v1/rig-types/zema-testrig/versions?limit=10"}},
		{Method: "DELETE", Path: "/v1/rig-types/:name", ID: "deleteRigType", Tag: "rig-types",
			Summary: "Delete a version of a rig type (?version=N, required), making room under quotas.max_rig_type_versions",
			Description: "Refused (409 state-conflict) so that a version number is never reused and no rig loses its registered " +
				"type: the latest version while older ones remain (a new upload would be numbered as it was: delete the older ones " +
				"first), and the only version of a rig type some rig of the organisation uses. Rigs name rig types, not versions, " +
				"and model bundles are bound to the config digest, so any other version may go. Once a rig type's last version " +
				"is deleted, its name is free and a new upload is its version 1. The example is refused: the story's rig uses zema-testrig.",
			Auth: AuthToken, Role: "admin",
			Params: []Param{{Name: "name", In: "path", Description: "the rig type"},
				{Name: "version", In: "query", Type: "integer", Max: math.MaxInt32, Required: true, Description: "the version to delete"}},
			Status: 204, Errors: []int{409},
			Example: Example{Path: "/v1/rig-types/zema-testrig?version=1", Status: 409}},
	}
}
