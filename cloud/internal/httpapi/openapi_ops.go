package httpapi

import (
	"encoding/json"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Example values shared by the operations. They describe one story on a
// fresh database, in Operations order: organisation 1 (acme) gets admin
// token 2, site 1 and rig zema-1; agent rig-001 enrolls, checks in and
// sends two diagnoses, one of which opens alert 1; then the fleet is read,
// the alert acknowledged and resolved, the agent and the token revoked.
func withUploadState(u fleetapi.FleetUpload, state string) fleetapi.FleetUpload {
	u.State = state
	return u
}

// exFleetRigYAML is a firmware config of the story's rig type (the
// example rig of exRigYAML) with one 1 Hz sensor and a 2 s cycle: the two readings the agent uploads make one
// window of the fleet data set example.
const exFleetRigYAML = `api_version: hydrognn/v1
rig_type: zema-testrig
topology_version: "1"
equipment: {id: zema-1}
operation: {cycle_s: 2}
` + exRigComponents + `sensors:
  - {id: PS1, kind: pressure, unit: bar, rate_hz: 1, range: {min: 0, max: 250}, component: pump, port: out, mqtt: {topic: rig/ps1, codec: json}}
` + exRigTargets

var (
	exUpload = fleetapi.FleetUpload{ID: "up-1", RigID: "zema-1", From: exT0.Add(-time.Hour), To: exT0, Sensors: []string{"PS1"},
		MaxBytes: MaxUploadBytes, ExpiresAt: exT0.Add(7 * 24 * time.Hour), State: store.UploadOpen, CreatedAt: exT0}
	exUploadReadings = []reading.Reading{{Sensor: "PS1", Time: exT0.Add(-60 * time.Second), Value: 151.2, Seq: 1},
		{Sensor: "PS1", Time: exT0.Add(-59 * time.Second), Value: 150.9, Seq: 2}}
	exUploadDone = fleetapi.FleetUpload{ID: "up-1", RigID: "zema-1", From: exT0.Add(-time.Hour), To: exT0, Sensors: []string{"PS1"},
		MaxBytes: MaxUploadBytes, ExpiresAt: exT0.Add(7 * 24 * time.Hour), State: store.UploadDone, Parts: 1, Readings: 2,
		Bytes: cloudapi.ReadingBytes(&exUploadReadings[0]) + cloudapi.ReadingBytes(&exUploadReadings[1]), CreatedAt: exT0, DoneAt: ptr(exT0)}
)

var (
	exT0      = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	exOrgID   = int64(1)
	exSiteID  = int64(1)
	exModel   = diag.ModelRef{Version: "zema-2025.03", Digest: "sha256:9f2c", Precision: "int8"}
	exDiagHot = diag.Diagnosis{
		RigID: "zema-1", RigType: "zema-testrig", AgentID: "rig-001", Seq: 4812,
		CreatedAt: exT0.Add(-58 * time.Second),
		Window: diag.Window{Start: exT0.Add(-2 * time.Minute), End: exT0.Add(-time.Minute), Steps: 60, Coverage: 0.98,
			Stale: []string{"FS1"}},
		Model: exModel, InferenceMicros: 71, Health: 0.42, Status: diag.Critical,
		Components: []diag.ComponentHealth{{ID: "pump", Health: 0.42, Status: diag.Critical, AnomalyScore: 2.3,
			Drivers: []diag.Driver{{Sensor: "PS1", Weight: 0.61}}}},
		Sensors: []diag.SensorScore{{ID: "PS1", Score: 2.3, Anomalous: true}},
		Anomalies: []diag.Anomaly{{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.8,
			Components: []string{"pump"}, Sensors: []string{"PS1"}}},
		Recommendations: []diag.Recommendation{{Component: "pump", Fault: "leakage",
			Action: "Inspect the pump for internal leakage", Priority: diag.SeverityHigh, Reason: "severe leakage at 80 %"}},
	}
	exDiagOK = diag.Diagnosis{
		RigID: "zema-1", RigType: "zema-testrig", AgentID: "rig-001", Seq: 4790,
		CreatedAt: exT0.Add(-23 * time.Minute),
		Window:    diag.Window{Start: exT0.Add(-24 * time.Minute), End: exT0.Add(-23 * time.Minute), Steps: 60, Coverage: 1},
		Model:     exModel, InferenceMicros: 69, Health: 0.91, Status: diag.Healthy,
		Components: []diag.ComponentHealth{{ID: "pump", Health: 0.91, Status: diag.Healthy, AnomalyScore: 0.4}},
	}
	exRig = fleetapi.Rig{RigID: "zema-1", RigType: "zema-testrig", FirmwareDigest: exRegistered, SiteID: &exSiteID, CreatedAt: exT0.Add(-48 * time.Hour)}
	exOrg = fleetapi.Org{ID: exOrgID, Slug: "acme", Name: "Acme Hydraulics", CreatedAt: exT0.Add(-72 * time.Hour)}
	exTok = fleetapi.Token{ID: 2, OrgID: &exOrgID, Name: "fleet admin", Role: string(store.RoleAdmin), CreatedAt: exT0.Add(-72 * time.Hour),
		CreatedBy: ptr(int64(1))}
	exAck = exT0.Add(5 * time.Minute)
	exRes = exT0.Add(time.Hour)
	exAl  = fleetapi.Alert{ID: 1, RigID: "zema-1", Component: "pump", Fault: "leakage", Severity: "high", State: store.AlertOpen,
		OpenedAt: exT0, LastSeenAt: exT0, Occurrences: 1}
	// exAnomaly is an anomaly alert: the agent's anomaly head, its name
	// suspected by the agent's rules in 3 of its 5 windows.
	exAnomaly = fleetapi.Alert{ID: 2, RigID: "zema-1", Component: "cooler", Fault: "", Severity: "high", State: store.AlertOpen,
		OpenedAt: exT0, LastSeenAt: exT0.Add(4 * time.Minute), Occurrences: 5, Suspected: "overheating",
		SuspectedFaults: map[string]int{"overheating": 2, "contamination": 1}}
	// exFirmware is the digest of the firmware config the example agent
	// runs, the one the example releases were made for (ExampleCatalog);
	// not exRig's registered one, which is out of date (the rig's status
	// flags it).
	exFirmware = "sha256:5be1c0de94a3f7b2e61d08c5a7f3e2b19d4c6a8e0f1b3d5c7e9a2b4d6f8e0a1c"
	// exRegistered is exRig's registered firmware digest: the config it
	// ran before, out of date until PATCH /v1/rigs/{rig} (editRig) sets
	// exFirmware.
	exRegistered = "sha256:f6f54c6b76c60559ad80b3477b9f41471bb06b06e9a84f1f9c8a8b4c0903e127"
	exCheckin    = cloudapi.CheckinRequest{AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", AgentVersion: "0.4.0",
		Time: exT0, Model: &exModel, Outbox: cloudapi.OutboxStatus{Items: 12, Bytes: 24576},
		Buffer: &cloudapi.BufferStatus{Records: 51840000, Bytes: 870000000}, BundleFormats: &cloudapi.BundleFormats{Min: 1, Max: 2},
		FirmwareDigest: exFirmware,
		Update: &cloudapi.UpdateStatus{State: "canary", Installed: "1.0.0", Target: "zema-testrig/zema-testrig-1.1.0.tar.gz",
			TargetVersion: "1.1.0", Rollout: 1, Changed: exT0.Add(-10 * time.Minute)}}
)

// withFirmware is r with the registered firmware digest d.
func withFirmware(r fleetapi.Rig, d string) fleetapi.Rig {
	r.FirmwareDigest = d
	return r
}

func listParams(extra ...Param) []Param {
	return append(extra,
		Param{Name: "limit", In: "query", Type: "integer", Max: MaxPageSize, Description: "page size (default 100)"},
		Param{Name: "cursor", In: "query", Description: "the previous page's next_cursor"})
}

func ptr[T any](v T) *T { return &v }

func withState(a fleetapi.Alert, state string) fleetapi.Alert {
	a.State = state
	a.AcknowledgedAt = &exAck
	if state == store.AlertResolved {
		a.ResolvedAt = &exRes
	}
	return a
}

// Operations lists every route of the API, in an order whose examples
// run one after the other on a fresh database (see Example).
func Operations() []Operation {
	rigParam := Param{Name: "rig", In: "path", Description: "the rig's id (its firmware config's equipment id)"}
	skew := int64(-250)
	return withTraining([]Operation{
		{Method: "GET", Path: "/health/live", ID: "live", Tag: "health", Summary: "The process runs",
			Status: 200, Response: Health{Status: "live"}},
		{Method: "GET", Path: "/health/ready", ID: "ready", Tag: "health",
			Summary: "The database is reachable and every migration of this binary is applied (else 503)",
			Status:  200, Response: Health{Status: "ready", SchemaVersion: 1}, Errors: []int{503}},
		{Method: "GET", Path: "/metrics", ID: "metrics", Tag: "health", Summary: "Prometheus metrics",
			Status: 200, MediaType: "text/plain", Response: "rig_cloud_http_requests_total{code=\"200\",method=\"GET\",route=\"/health/live\"} 1\n"},
		{Method: "GET", Path: "/openapi.json", ID: "openapi", Tag: "health", Summary: "This document",
			Status: 200, Response: map[string]any{"openapi": "3.0.3"}},

		{Method: "POST", Path: "/v1/orgs", ID: "createOrg", Tag: "organisations", Summary: "Create an organisation",
			Auth: AuthSystem, Body: fleetapi.OrgRequest{Slug: "acme", Name: "Acme Hydraulics"}, Status: 201, Response: exOrg, Errors: []int{409}},
		{Method: "POST", Path: "/v1/orgs/:org/tokens", ID: "createToken", Tag: "organisations",
			Summary: "Create an API token of an organisation",
			Description: "A system token or an admin of the organisation. The secret is in this answer only. " +
				"expires_at defaults to the maker's expiry; one later than the maker's is 400 (system tokens are exempt). " +
				"409 quota-exceeded when the organisation holds quotas.max_live_tokens live tokens.",
			Auth: AuthSystemOrToken, Role: "admin", Params: []Param{{Name: "org", In: "path", Type: "integer", Description: "organisation id"}},
			Body:   fleetapi.TokenRequest{Name: "fleet admin", Role: string(store.RoleAdmin)},
			Status: 201, Response: fleetapi.TokenResponse{Token: &exTok, Secret: "rgt_3q2+7w..."}, Errors: []int{409},
			Example: Example{Path: "/v1/orgs/1/tokens"}},
		{Method: "GET", Path: "/v1/orgs", ID: "listOrgs", Tag: "organisations",
			Summary: "List organisations (a system token: all; an organisation's token: its own)",
			Auth:    AuthSystemOrToken, Role: "viewer", Params: listParams(), Status: 200, Response: fleetapi.Page[fleetapi.Org]{Items: []fleetapi.Org{exOrg}}},
		{Method: "GET", Path: "/v1/orgs/:org", ID: "getOrg", Tag: "organisations", Summary: "An organisation",
			Auth: AuthSystemOrToken, Role: "viewer", Params: []Param{{Name: "org", In: "path", Type: "integer", Description: "organisation id"}},
			Status: 200, Response: exOrg, Example: Example{Path: "/v1/orgs/1"}},
		{Method: "GET", Path: "/v1/orgs/:org/tokens", ID: "listOrgTokens", Tag: "organisations",
			Summary: "List an organisation's API tokens (a system token, or an admin of the organisation)",
			Description: "Revoked and expired tokens included, by id; each with the id of the token that made it (created_by) " +
				"and when it last authenticated a request (last_used_at, to about a minute). Never the secrets.",
			Auth: AuthSystemOrToken, Role: "admin", Params: listParams(Param{Name: "org", In: "path", Type: "integer", Description: "organisation id"}),
			Status: 200, Response: fleetapi.Page[fleetapi.Token]{Items: []fleetapi.Token{exTok}}, Example: Example{Path: "/v1/orgs/1/tokens"}},
		{Method: "GET", Path: "/v1/tokens", ID: "listTokens", Tag: "organisations",
			Summary: "List the API tokens of the caller's organisation (an admin; as GET /v1/orgs/{org}/tokens), or the deployment's system and release tokens (a system token)",
			Auth:    AuthSystemOrToken, Role: "admin", Params: listParams(),
			Status: 200, Response: fleetapi.Page[fleetapi.Token]{Items: []fleetapi.Token{exTok}}},

		{Method: "POST", Path: "/v1/sites", ID: "createSite", Tag: "fleet", Summary: "Create a site",
			Auth: AuthToken, Role: "operator", Body: fleetapi.SiteRequest{Name: "Plant 1", Location: "Hall B"},
			Status: 201, Response: fleetapi.Site{ID: exSiteID, Name: "Plant 1", Location: "Hall B", CreatedAt: exT0}, Errors: []int{409}},
		{Method: "GET", Path: "/v1/sites", ID: "listSites", Tag: "fleet", Summary: "List sites",
			Auth: AuthToken, Role: "viewer", Params: listParams(), Status: 200,
			Response: fleetapi.Page[fleetapi.Site]{Items: []fleetapi.Site{{ID: exSiteID, Name: "Plant 1", Location: "Hall B", CreatedAt: exT0}}}},
		{Method: "POST", Path: "/v1/rigs", ID: "createRig", Tag: "fleet", Summary: "Create a rig",
			Auth: AuthToken, Role: "operator",
			Description: "Once the organisation has registered rig types (POST /v1/rig-types), rig_type must be one of them: " +
				"422 unknown-rig-type names them. An organisation that registered none creates rigs of any type. " +
				"firmware_digest, when given, is sha256:<64 lowercase hex>, the firmware config's digest (rigctl rig-types validate prints it), " +
				"or \"\" for none (the rig is then never flagged firmware_mismatch); 400 naming /firmware_digest otherwise.",
			Body:   fleetapi.RigRequest{RigID: "zema-1", RigType: "zema-testrig", FirmwareDigest: exRegistered, SiteID: &exSiteID},
			Status: 201, Response: exRig, Errors: []int{409, 422}},
		{Method: "POST", Path: "/v1/rigs/:rig/enrollments", ID: "createEnrollment", Tag: "fleet",
			Summary: "Create a one-time enrollment token for a rig",
			Description: "The agent sends it once to POST /v1/agent/enroll before it expires (auth.enrollment_ttl, " +
				"or the maker's expiry when earlier). The body is optional: replace names the agent id of the rig " +
				"whose live identity the token may take over (else enrolling over an agent that checks in is 409).",
			Auth: AuthToken, Role: "operator", Params: []Param{rigParam}, Status: 201,
			Body: fleetapi.EnrollmentRequest{Replace: "rig-001"}, BodyOptional: true,
			Response: fleetapi.Enrollment{ID: 1, Token: "rge_Jm4...", RigID: "zema-1", ExpiresAt: exT0.Add(24 * time.Hour), Replace: "rig-001"},
			Example:  Example{Path: "/v1/rigs/zema-1/enrollments"}},
		{Method: "GET", Path: "/v1/rigs/:rig/enrollments", ID: "listEnrollments", Tag: "fleet",
			Summary: "List a rig's enrollment tokens (never their secrets)",
			Description: "state is usable, used, expired or revoked; agent_id is the agent a used token enrolled. " +
				"An unused token is revoked or expired with the API token that made it (created_by), and listed so, with its maker's revocation or expiry.",
			Auth: AuthToken, Role: "operator", Params: listParams(rigParam), Status: 200,
			Response: fleetapi.Page[fleetapi.EnrollmentToken]{Items: []fleetapi.EnrollmentToken{{ID: 1, RigID: "zema-1", State: "usable",
				CreatedAt: exT0, ExpiresAt: exT0.Add(24 * time.Hour), CreatedBy: ptr(int64(2))}}},
			Example: Example{Path: "/v1/rigs/zema-1/enrollments"}},

		{Method: "POST", Path: "/v1/agent/enroll", ID: "enroll", Tag: "agent",
			Summary: "Exchange an enrollment token for the agent's credential",
			Description: "rig_id is optional and must be the token's rig (403 otherwise). Every enrollment makes a new identity " +
				"(generation) of the agent id bound to the token's rig: enrolling an id already enrolled for that rig (a reinstalled " +
				"rig computer) revokes the old credential, and the new identity's sequence numbers never collide with the stored ones. " +
				"An id enrolled, not revoked, for another rig answers 409 (revoke it first to move it); so does an id whose identity on " +
				"the rig checked in within twice the check-in interval, unless the token was made to replace it (replace).",
			Auth: AuthEnrollment, Body: cloudapi.EnrollRequest{AgentID: "rig-001", RigID: "zema-1"}, Status: 200,
			Response: cloudapi.EnrollResponse{AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", Credential: "rga_pV8...", Generation: 1},
			Errors:   []int{403, 409}},
		{Method: "POST", Path: "/v1/agent/checkin", ID: "checkin", Tag: "agent", Summary: "Report the agent's state; get limits and upload requests",
			Description: "highest_seq is the highest diagnosis seq stored for the credential's identity (this enrollment generation; " +
				"absent: none, as in this example of a first check-in): an agent whose next seq is at or below it lost its numbering and continues above it, renumbering " +
				"its unsent diagnoses (docs/agent-cloud-api.md, \"Sequence numbers after a lost history\").",
			Auth: AuthAgent, Body: exCheckin, Status: 200,
			Response: cloudapi.CheckinResponse{ServerTime: exT0.Add(250 * time.Millisecond), NextCheckinS: 300,
				Limits: cloudapi.Limits{MaxBatchItems: 1000, MaxBodyBytes: 4194304, MaxUploadReadings: 100000}, Generation: 1}},
		{Method: "POST", Path: "/v1/agent/diagnoses", ID: "ingestDiagnoses", Tag: "agent",
			Summary:     "Send a batch of diagnoses (idempotent on agent id and seq)",
			Description: "One result per diagnosis in the batch's order; every result is final (docs/agent-cloud-api.md).",
			Auth:        AuthAgent, Body: cloudapi.DiagnosisBatch{AgentID: "rig-001", Diagnoses: []diag.Diagnosis{exDiagHot, exDiagOK}},
			Status: 200, Response: cloudapi.BatchResponse{Accepted: 2, Results: []cloudapi.ItemResult{
				{Seq: 4812, Status: cloudapi.ItemAccepted}, {Seq: 4790, Status: cloudapi.ItemAccepted}}}},
		{Method: "POST", Path: "/v1/uploads", ID: "createUploadRequest", Tag: "training",
			Summary: "Ask a rig for its readings of a time range (training data from the fleet)",
			Description: "The rig's agent gets the request at its next check-in (upload_requests) and answers with parts " +
				"(POST /v1/agent/uploads); readings inside the range and sensors are kept. expires_at defaults to 7 days from now " +
				"and is at most 30 days from now; a range is at most 31 days and ends at most 5 minutes after now (readings " +
				"the rig has taken: the agent marks its part last with what it holds). max_bytes (the readings' JSON, one byte " +
				"more each) is at most 1 GiB, and 1 GiB when omitted; the server stores no readings past it nor past 25 million " +
				"readings, and the part reaching a cap completes the request. A limit passed is 400 naming the field in errors. " +
				"An organisation holding quotas.max_open_uploads open requests gets 409 quota-exceeded.",
			Auth: AuthToken, Role: "operator", Body: fleetapi.UploadRequestBody{RigID: "zema-1", From: exT0.Add(-time.Hour), To: exT0, Sensors: []string{"PS1"}},
			Status: 201, Response: exUpload, Errors: []int{409}},
		{Method: "POST", Path: "/v1/agent/uploads", ID: "upload", Tag: "agent", Summary: "Send one part of an upload request's readings",
			Description: "Parts are idempotent on agent, request and part: a replay with the same content (cloudapi.UploadFingerprint) is " +
				"duplicate; one with other content is conflict (its problem of type urn:hydrognn:problem:conflict says so; the stored " +
				"part is kept). 404: the rig has no such request; " +
				"410: it expired, was cancelled or is complete. Both end the request on the agent. A part's readings past the " +
				"request's max_bytes or the server's cap of readings are not stored; the part completes the request (done). " +
				"A last part completes it unless another agent of the rig sent parts of it and not yet its last one.",
			Auth: AuthAgent, Body: cloudapi.Upload{AgentID: "rig-001", RequestID: "up-1", Part: 0, Last: true, Readings: exUploadReadings},
			Status: 200, Response: cloudapi.UploadResponse{RequestID: "up-1", Part: 0, Status: cloudapi.ItemAccepted, Done: true},
			Errors: []int{404, 410}},
		{Method: "GET", Path: "/v1/uploads", ID: "listUploadRequests", Tag: "training", Summary: "List upload requests and their progress",
			Auth: AuthToken, Role: "viewer",
			Params: listParams(Param{Name: "rig_id", In: "query", Description: "only this rig's requests"},
				Param{Name: "state", In: "query", Enum: []string{store.UploadOpen, store.UploadDone, store.UploadCancelled, store.UploadExpired},
					Description: "only requests in this state (expired: open past expires_at; open leaves them out)"}),
			Status: 200, Response: fleetapi.Page[fleetapi.FleetUpload]{Items: []fleetapi.FleetUpload{exUploadDone}},
			Example: Example{Path: "/v1/uploads?rig_id=zema-1"}},
		{Method: "POST", Path: "/v1/uploads/:id/cancel", ID: "cancelUploadRequest", Tag: "training",
			Summary:     "Cancel an upload request: it leaves check-in, later parts are refused (410); the readings stored so far stay",
			Description: "Cancelling a cancelled request changes nothing; a complete (done) one is 409.",
			Auth:        AuthToken, Role: "operator", Params: []Param{{Name: "id", In: "path", Description: "the request's id, e.g. up-1"}},
			Status: 200, Response: withUploadState(exUpload, store.UploadCancelled), Errors: []int{409},
			Example: Example{Path: "/v1/uploads/up-1/cancel", Status: 409}},

		{Method: "GET", Path: "/v1/rigs", ID: "listRigs", Tag: "fleet", Summary: "List rigs (by rig id), of one site and of one rig type when asked",
			Description: "site and rig_type combine (both must hold). A site id of another organisation, or a rig type no rig has, lists nothing; " +
				"a site that is not a positive integer, or an empty rig_type, is 400 naming the parameter. The cursor is the last rig id of the " +
				"previous page, a position in the rig id order: with the same filters it pages on; with other filters it lists their rigs past it.",
			Auth: AuthToken, Role: "viewer",
			Params: listParams(Param{Name: "site", In: "query", Type: "integer", Description: "only rigs of this site (its id)"},
				Param{Name: "rig_type", In: "query", Description: "only rigs of this rig type (its name)"}),
			Status: 200, Response: fleetapi.Page[fleetapi.Rig]{Items: []fleetapi.Rig{exRig}},
			Example: Example{Path: "/v1/rigs?site=1&rig_type=zema-testrig"}},
		{Method: "GET", Path: "/v1/rigs/:rig", ID: "getRig", Tag: "fleet", Summary: "A rig",
			Auth: AuthToken, Role: "viewer", Params: []Param{rigParam}, Status: 200, Response: exRig,
			Example: Example{Path: "/v1/rigs/zema-1"}},
		{Method: "GET", Path: "/v1/rigs/:rig/status", ID: "rigStatus", Tag: "fleet",
			Summary: "A rig's state: last seen, last diagnosis, each agent's link, version, model, model update state, outbox, buffer, bundle formats read and firmware digest reported (flagged when it is not the rig's registered firmware_digest); open alerts",
			Auth:    AuthToken, Role: "viewer", Params: []Param{rigParam}, Status: 200,
			Response: fleetapi.RigStatus{Rig: exRig, LastSeen: ptr(exT0), OpenAlerts: 1, FirmwareMismatch: true,
				LastDiagnosis: &fleetapi.DiagnosisSummary{AgentID: "rig-001", Seq: 4812, WindowStart: exDiagHot.Window.Start,
					WindowEnd: exDiagHot.Window.End, ReceivedAt: exT0, Health: 0.42, Status: "critical", ModelVersion: "zema-2025.03"},
				Agents: []fleetapi.AgentStatus{{AgentID: "rig-001", Link: "online", LastCheckinAt: ptr(exT0), ClockSkewMs: &skew,
					AgentVersion: "0.4.0", Model: &exModel,
					Outbox: &exCheckin.Outbox, Buffer: exCheckin.Buffer, Update: exCheckin.Update, BundleFormats: exCheckin.BundleFormats,
					ReportedFirmwareDigest: exFirmware, FirmwareSince: ptr(exT0.Add(-72 * time.Hour)), FirmwareMismatch: true}}},
			Example: Example{Path: "/v1/rigs/zema-1/status"}},
		{Method: "PATCH", Path: "/v1/rigs/:rig", ID: "editRig", Tag: "fleet",
			Summary: "Change a rig's registered firmware_digest (after a firmware change, or to correct it), so that its firmware_mismatch flag clears",
			Description: "firmware_digest is required: sha256:<64 lowercase hex>, the firmware config's digest (rigctl rig-types validate prints it; " +
				"GET /v1/rig-types/{name}/versions lists those of the registered ones), or \"\" for none (the rig is then never flagged); " +
				"400 naming /firmware_digest otherwise. The rig's status compares its agents' reports with it from the next read on " +
				"(the example registers the digest the rig's agent reports).",
			Auth: AuthToken, Role: "operator", Params: []Param{rigParam},
			Body:   fleetapi.RigEdit{FirmwareDigest: ptr(exFirmware)},
			Status: 200, Response: withFirmware(exRig, exFirmware), Example: Example{Path: "/v1/rigs/zema-1"}},
		{Method: "GET", Path: "/v1/rigs/:rig/diagnoses", ID: "rigDiagnoses", Tag: "fleet",
			Summary: "A rig's stored diagnoses with window_start in [from, to), in window order",
			Auth:    AuthToken, Role: "viewer",
			Params: listParams(rigParam,
				Param{Name: "from", In: "query", Type: "date-time", Description: "RFC 3339 (default: 24 h before to)"},
				Param{Name: "to", In: "query", Type: "date-time", Description: "RFC 3339, exclusive (default: now); from must be before to"}),
			Status: 200, Response: fleetapi.Page[diag.Diagnosis]{Items: []diag.Diagnosis{exDiagOK, exDiagHot}},
			Example: Example{Path: "/v1/rigs/zema-1/diagnoses?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z&limit=100"}},
		{Method: "GET", Path: "/v1/rigs/:rig/components/:component/health", ID: "componentHealth", Tag: "fleet",
			Summary: "A component's health history: per hour or day (UTC, or the time zone tz names), the windows, the unknown ones among them, the windows without the component, average and minimum health and the worst status",
			Description: "Aggregated from the rig's stored diagnoses whose window starts in [from, to); windows counts those that report the component. " +
				"unknown_windows counts the windows whose status for the component is unknown (they judged nothing: no condition target, data missing); " +
				"avg_health and min_health are over the other windows (windows - unknown_windows; absent when there are none), and worst_status orders " +
				"critical, warning, healthy, and unknown only when every window is: a bucket of one healthy window and 59 unknown ones is healthy with " +
				"windows 60 and unknown_windows 59. missing_windows counts the rig's diagnoses in the bucket that do not report the component " +
				"(its sensors masked, a model without it), in no other figure; a bucket of only those is there with windows 0 and worst_status " +
				"unknown, so a gap shows. Buckets without diagnoses of the rig are left out, and all are when no diagnosis of the rig, in the range or not, " +
				"reports the component (one the rig does not have); a range in which none does (an outage) has its buckets. At most 1000 hourly or 100 daily buckets, " +
				"counted as the hours or days of the time zone [from, to) touches (100 days from 00:30 touch 101 days; 400 beyond, saying how many). " +
				"Buckets start at the zone's whole hours and midnights (date_trunc in the zone: a day across a daylight saving change is " +
				"23 or 25 hours; an hour of a +05:30 zone starts at :30 UTC), and each bucket's start is given in the zone's offset.",
			Auth: AuthToken, Role: "viewer",
			Params: []Param{rigParam, {Name: "component", In: "path", Description: "the component's id, e.g. pump"},
				{Name: "bucket", In: "query", Enum: []string{store.BucketHour, store.BucketDay}, Description: "bucket size (default 1h)"},
				{Name: "from", In: "query", Type: "date-time", Description: "RFC 3339 (default: 24 h before to with 1h buckets, 30 days with 1d)"},
				{Name: "to", In: "query", Type: "date-time", Description: "RFC 3339, exclusive (default: now); from must be before to"},
				{Name: "tz", In: "query", Description: "IANA time zone name whose hours and days the buckets are, e.g. Europe/Berlin (default UTC)"}},
			Status: 200,
			Response: fleetapi.HealthHistory{RigID: "zema-1", Component: "pump", Bucket: store.BucketHour,
				From: exT0.Add(-12 * time.Hour), To: exT0.Add(12 * time.Hour), Buckets: []fleetapi.HealthBucket{
					{Start: exT0.Add(-time.Hour), Windows: 3, UnknownWindows: 1, AvgHealth: ptr(0.665), MinHealth: ptr(0.42), WorstStatus: "critical"}}},
			Example: Example{Path: "/v1/rigs/zema-1/components/pump/health?bucket=1h&from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z"}},
		{Method: "GET", Path: "/v1/agents", ID: "listAgents", Tag: "fleet", Summary: "List agents",
			Auth: AuthToken, Role: "viewer", Params: listParams(Param{Name: "rig_id", In: "query", Description: "only this rig's agents"}),
			Status: 200, Response: fleetapi.Page[fleetapi.Agent]{Items: []fleetapi.Agent{{AgentID: "rig-001", RigID: "zema-1", Generation: 1, EnrolledAt: exT0.Add(-time.Hour),
				LastCheckinAt: ptr(exT0), ClockSkewMs: &skew, LastCheckin: json.RawMessage(`{"agent_id":"rig-001"}`)}}},
			Example: Example{Path: "/v1/agents?rig_id=zema-1"}},
		{Method: "GET", Path: "/v1/alerts", ID: "listAlerts", Tag: "fleet", Summary: "List alerts",
			Description: "An alert is keyed by rig, component and fault while it is not resolved. A class head's finding has its " +
				"fault; an anomaly-head finding has fault \"\" (the anomaly), named or not: the fault the agent's rules suspected " +
				"(a confidence of at most 0.5, which can change from window to window) does not open an alert of its own. Such an " +
				"alert's suspected is the name of its latest window by window end (absent when that window was unnamed), and " +
				"suspected_faults counts its windows per suspected name (the unnamed ones are occurrences less their sum); both " +
				"are absent on a class head's alert. The example's second item is an anomaly alert. state, rig and severity combine (all must hold); " +
				"a rig that is not a rig id, or a severity not in the list, is 400 naming the parameter. The cursor is the last alert id of the " +
				"previous page, a position in the id order: with the same filters it pages on; with other filters it lists their alerts past it.",
			Auth: AuthToken, Role: "viewer",
			Params: listParams(Param{Name: "state", In: "query", Enum: []string{store.AlertOpen, store.AlertAcknowledged, store.AlertResolved},
				Description: "only alerts in this state"},
				Param{Name: "rig", In: "query", Description: "only alerts of this rig (its rig id; one of another organisation, or none, lists nothing)"},
				Param{Name: "severity", In: "query", Enum: AlertSeverities, Description: "only alerts of this severity"},
				Param{Name: "order", In: "query", Enum: []string{AlertsOldest, AlertsNewest},
					Description: "oldest (the default: by id, oldest first) or newest (newest first); the cursor pages on in the same order"}),
			Status: 200, Response: fleetapi.Page[fleetapi.Alert]{Items: []fleetapi.Alert{exAl, exAnomaly}},
			Example: Example{Path: "/v1/alerts?state=open&rig=zema-1"}},
		{Method: "POST", Path: "/v1/alerts/:id/ack", ID: "ackAlert", Tag: "fleet", Summary: "Acknowledge an alert (409 when resolved)",
			Auth: AuthToken, Role: "operator", Params: []Param{{Name: "id", In: "path", Type: "integer", Description: "alert id"}},
			Status: 200, Response: withState(exAl, store.AlertAcknowledged), Errors: []int{409},
			Example: Example{Path: "/v1/alerts/1/ack"}},
		{Method: "POST", Path: "/v1/alerts/:id/resolve", ID: "resolveAlert", Tag: "fleet",
			Summary: "Resolve an alert (a later anomaly opens a new one)",
			Auth:    AuthToken, Role: "operator", Params: []Param{{Name: "id", In: "path", Type: "integer", Description: "alert id"}},
			Status: 200, Response: withState(exAl, store.AlertResolved), Example: Example{Path: "/v1/alerts/1/resolve"}},
		{Method: "POST", Path: "/v1/agents/:agent/revoke", ID: "revokeAgent", Tag: "fleet",
			Summary: "Revoke an agent's credential (the id can enroll again, as a new generation)",
			Auth:    AuthToken, Role: "operator", Params: []Param{{Name: "agent", In: "path", Description: "agent id"}},
			Status: 204, Example: Example{Path: "/v1/agents/rig-001/revoke"}},
		{Method: "POST", Path: "/v1/datasets/from-uploads", ID: "createFleetDataset", Tag: "training",
			Summary: "Make a data set from the readings rigs uploaded over a time range (in the background)",
			Description: "The request is checked (name, rigs of the organisation and of the firmware config's rig type, time range, " +
				"rig_config, labels) and the data set recorded as building: the answer is 202 with the data set and a Location " +
				"header to GET /v1/datasets/{id}, which shows the build's progress (build: phase, rigs_done, readings, windows, " +
				"per-rig stats). A `rig-cloud worker` claims the build like a training job (lease, heartbeat, re-queued when the " +
				"worker dies, bounded attempts): the readings of each rig in [from, to) are cut into the firmware config's cycles " +
				"(operation.cycle_s) on a 1 Hz grid with shared/prep; windows with a missing cell are skipped. Every window is " +
				"labelled with labels (class values by target), a target not named with its normal class. The data set (kind uci, " +
				"source fleet) ends ready in the UCI layout the trainer reads, or failed with the reason in error (no complete " +
				"window, more windows than the worker's cap, an archive over blob.max_object_bytes). A failed data set's name " +
				"can be used again (the new request replaces it).",
			Auth: AuthToken, Role: "operator",
			Body: fleetapi.FleetDatasetRequest{Name: "zema-fleet-2025-03", RigConfig: exFleetRigYAML, RigIDs: []string{"zema-1"},
				From: exT0.Add(-time.Hour), To: exT0},
			Status: 202, Response: fleetapi.Dataset{ID: 2, Name: "zema-fleet-2025-03", Kind: "uci", Source: store.SourceFleet,
				Description: "fleet uploads of zema-1, 2025-03-01T11:00:00Z to 2025-03-01T12:00:00Z, labels pump=0",
				RigType:     "zema-testrig", ConfigDigest: "sha256:8c41", State: store.DatasetBuilding,
				Build: &fleetapi.DatasetBuild{RigIDs: []string{"zema-1"}, From: exT0.Add(-time.Hour), To: exT0,
					Labels: map[string]float64{"pump": 0}, Phase: fleetapi.BuildQueued, UpdatedAt: exT0},
				CreatedAt: exT0},
			Errors: []int{409, 503}},
		{Method: "POST", Path: "/v1/datasets/:id/cancel", ID: "cancelDatasetBuild", Tag: "training",
			Summary: "Cancel a data set's build from fleet uploads: a queued build at once, a running one at its worker's next heartbeat (409 when not building)",
			Description: "A queued build is cancelled at once: the data set is failed with error \"cancelled by token NAME (id N)\". A running " +
				"build is marked for cancelling: the data set stays building, its error saying the cancel was asked, until the " +
				"worker sees the request at its next heartbeat (worker.heartbeat) and stops; the data set then fails with the same " +
				"error (a build that finishes meanwhile is not stored). Its name can be used again.",
			Auth: AuthToken, Role: "operator", Params: []Param{{Name: "id", In: "path", Type: "integer", Description: "data set id"}},
			Status: 200, Response: fleetapi.Dataset{ID: 2, Name: "zema-fleet-2025-03", Kind: "uci", Source: store.SourceFleet,
				Description: "fleet uploads of zema-1, 2025-03-01T11:00:00Z to 2025-03-01T12:00:00Z, labels pump=0",
				RigType:     "zema-testrig", ConfigDigest: "sha256:8c41", State: store.DatasetFailed,
				Build: &fleetapi.DatasetBuild{RigIDs: []string{"zema-1"}, From: exT0.Add(-time.Hour), To: exT0,
					Labels: map[string]float64{"pump": 0}, Phase: fleetapi.BuildFailed, UpdatedAt: exT0},
				Error: ptr(`cancelled by token "ops" (id 2)`), CreatedAt: exT0},
			Errors: []int{409}, Example: Example{Path: "/v1/datasets/2/cancel"}},
		{Method: "DELETE", Path: "/v1/rigs/:rig/enrollments/:id", ID: "revokeEnrollment", Tag: "fleet",
			Summary: "Revoke one enrollment token of a rig (a used or expired one stays as it is)",
			Auth:    AuthToken, Role: "operator", Params: []Param{rigParam, {Name: "id", In: "path", Type: "integer", Description: "enrollment token id"}},
			Status: 204, Example: Example{Path: "/v1/rigs/zema-1/enrollments/1"}},
		{Method: "DELETE", Path: "/v1/rigs/:rig/enrollments", ID: "revokeEnrollments", Tag: "fleet",
			Summary: "Revoke every usable enrollment token of a rig",
			Auth:    AuthToken, Role: "operator", Params: []Param{rigParam},
			Status: 200, Response: fleetapi.EnrollmentsRevoked{Revoked: 0}, Example: Example{Path: "/v1/rigs/zema-1/enrollments"}},
		{Method: "DELETE", Path: "/v1/tokens/:id", ID: "revokeToken", Tag: "organisations", Summary: "Revoke an API token",
			Description: "An admin revokes its organisation's tokens; a system token any token, of any organisation or a system " +
				"or release token (itself included). With cascade=true, also every token it made (created_by), theirs, and so on.",
			Auth: AuthSystemOrToken, Role: "admin", Params: []Param{{Name: "id", In: "path", Type: "integer", Description: "token id"},
				{Name: "cascade", In: "query", Enum: []string{"true", "false"}, Description: "also revoke the tokens it made, recursively (default false)"}},
			Status: 204, Example: Example{Path: "/v1/tokens/2"}},
	})
}
