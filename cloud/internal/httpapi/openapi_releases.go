package httpapi

import (
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
)

// TUFMetadata is a TUF metadata file as the repository serves it: the
// role's signed object and its signatures (go-tuf's metadata.Metadata).
type TUFMetadata struct {
	Signed     map[string]any `json:"signed"`
	Signatures []TUFSignature `json:"signatures"`
}

// TUFSignature is one signature of a TUF metadata file.
type TUFSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

const (
	exKeyID = "4e8d2a61c7b0f9e3a5d4c2b1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1"
	exSig   = "9a3f0c55e1d2b4a6c8e0f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4"
)

// releaseOperations documents the TUF repository and the publication of
// releases (releases.go). The examples run on a repository just made by
// `rigctl keys init` (version 1 of every role, no release yet).
func releaseOperations() []Operation {
	file := Param{Name: "file", In: "path", Description: "N.root.json, timestamp.json, N.snapshot.json or N.targets.json"}
	path := Param{Name: "path", In: "path", Description: "<rig_type>/<sha256>.<bundle>-<version>.tar.gz, as go-tuf's updater requests it (it spans several segments)"}
	ts := TUFMetadata{Signed: map[string]any{"_type": "timestamp", "spec_version": "1.0.31", "version": 1,
		"expires": exT0.Add(24 * 60 * 60 * 1e9).Format("2006-01-02T15:04:05Z"),
		"meta":    map[string]any{"snapshot.json": map[string]any{"version": 1, "length": 411, "hashes": map[string]any{"sha256": exSig}}}},
		Signatures: []TUFSignature{{KeyID: exKeyID, Sig: exSig}}}
	rel := release.Target{FormatVersion: 1, Bundle: "zema-testrig", Version: "1.1.0", RigType: "zema-testrig",
		ConfigDigest: "sha256:5be1", ManifestDigest: "sha256:77c1", ExecutionProviders: []string{"cpu"},
		Hardware: []string{"amd64", "arm64"}, Precisions: []bundle.Precision{bundle.FP32, bundle.INT8}}
	return []Operation{
		{Method: "GET", Path: "/tuf/:file", ID: "tufMetadata", Tag: "releases",
			Summary: "A TUF metadata file of the release repository (go-tuf's updater fetches these with consistent snapshots)",
			Description: "timestamp.json is sent with Cache-Control no-cache; the versioned files never change and are sent as immutable. " +
				"Ranges and conditional requests are answered (http.ServeContent). 503 when the server has no repository (releases.repo_dir).",
			Auth: AuthRepository, Params: []Param{file}, Status: 200, Response: ts, Errors: []int{503},
			Example: Example{Path: "/tuf/timestamp.json"}},
		{Method: "GET", Path: "/tuf/targets/*path", ID: "tufTarget", Tag: "releases",
			Summary: "A release archive (tar.gz), by the consistent-snapshot name go-tuf's updater requests; resumable with Range",
			Description: "Answered with http.ServeContent: Content-Length, Range (206, 416), If-Range, ETag (the sha256), and Cache-Control immutable. " +
				"A path with an empty segment or one starting with a dot is 404. Bounded by blob.upload_timeout, not the request timeouts.",
			Auth: AuthRepository, Params: []Param{path}, Status: 200, Errors: []int{416, 503},
			Example: Example{Path: "/tuf/targets/" + exSig + ".zema-testrig-1.1.0.tar.gz", Status: 404}},
		{Method: "POST", Path: "/v1/releases", ID: "publishRelease", Tag: "releases",
			Summary: "Publish a release signed offline: multipart/form-data with part \"targets\" (the next targets metadata, signed with the targets key) then part \"archive\" (its tar.gz)",
			Description: "rig-cloud checks that the targets metadata is signed by the targets keys of the current root, is the next version, " +
				"keeps every released target unchanged and adds exactly one whose release metadata is valid, and that the archive has its length " +
				"and sha256; then stores the archive and signs snapshot and timestamp with its online keys (rigctl release publish does all this). " +
				"Targets that add no target, sent without the archive part, renew the targets' expiry (rigctl release resign). " +
				"422 names what was refused (a released path is never reused: changing it is refused too); 413 above releases.max_archive_bytes; 415 for another body type.",
			Auth: AuthRelease, Status: 201,
			Response: releases.Published{Path: "zema-testrig/zema-testrig-1.1.0.tar.gz", Length: 1_482_113, SHA256: exSig, Release: &rel,
				Versions: map[string]int64{"root": 1, "targets": 3, "snapshot": 4, "timestamp": 9}},
			Errors: []int{400, 413, 415, 422, 503}, Example: Example{Status: 415}},
	}
}
