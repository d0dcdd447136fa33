package fleetapi

import "time"

// RigTypeRequest is the JSON body of POST /v1/rig-types and POST
// /v1/rig-types/validate: a firmware config (shared/rig's YAML) as text.
// The same YAML may be sent as the whole body instead, with Content-Type
// application/yaml.
type RigTypeRequest struct {
	// Config is the firmware config file's content (at most 1 MiB).
	Config string `json:"config"`
}

// RigTypeSummary is what a firmware config describes: the answer of POST
// /v1/rig-types/validate.
type RigTypeSummary struct {
	// Name is the config's rig_type.
	Name string `json:"name"`
	// Digest is the config's firmware-config digest (rig.Config.Digest,
	// "sha256:<hex>"): the config_digest model bundles and releases are
	// bound to. Comments, key order and layout of the YAML do not change it.
	Digest          string `json:"digest"`
	TopologyVersion string `json:"topology_version"`
	// Components, Edges (connections), Sensors and Targets count the
	// config's entries.
	Components int `json:"components"`
	Edges      int `json:"edges"`
	Sensors    int `json:"sensors"`
	Targets    int `json:"targets"`
}

// RigType is one stored version of an organisation's rig type. Versions
// are immutable and numbered from 1 per name; uploading the content of a
// stored version again (the same digest) answers that version.
type RigType struct {
	Name            string `json:"name"`
	Version         int    `json:"version"`
	Digest          string `json:"digest"`
	TopologyVersion string `json:"topology_version"`
	Components      int    `json:"components"`
	Edges           int    `json:"edges"`
	Sensors         int    `json:"sensors"`
	Targets         int    `json:"targets"`
	// CreatedBy is the id of the API token that uploaded it (absent once
	// that token is deleted).
	CreatedBy *int64    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Config is the firmware config as uploaded (GET /v1/rig-types/{name}
	// only; lists and uploads leave it out).
	Config string `json:"config,omitempty"`
}

// RigTypeUpload is the answer of POST /v1/rig-types: the version and
// whether the upload stored it (lists and gets answer RigType, without
// new).
type RigTypeUpload struct {
	RigType
	// New is true when the upload stored this version (201), false when
	// its content was already stored under the rig type (200: that
	// version).
	New bool `json:"new"`
}
