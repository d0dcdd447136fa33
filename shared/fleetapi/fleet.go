package fleetapi

import (
	"encoding/json"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// Page is the body of every list answer: limit (1..1000, default 100)
// items and, when there are more, the cursor of the next page.
type Page[T any] struct {
	Items []T `json:"items"`
	// NextCursor, when present, is the cursor of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// OrgRequest is the body of POST /v1/orgs.
type OrgRequest struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// Org is an organisation (a tenant).
type Org struct {
	ID        int64     `json:"id"`
	Slug      string    `json:"slug"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// TokenRequest is the body of POST /v1/orgs/{org}/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	// Role is viewer, operator or admin.
	Role string `json:"role"`
	// ExpiresAt, when set, ends the token. It may not be after the
	// expiry of the organisation token that makes it, which it defaults
	// to (a system token's tokens have no such bound).
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Token is an API token's record (never its secret).
type Token struct {
	ID int64 `json:"id"`
	// OrgID is the token's organisation (absent: a system or release
	// token).
	OrgID     *int64     `json:"org_id,omitempty"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// CreatedBy is the id of the token that made this one (absent: made
	// by rig-cloud token create, or before creators were recorded).
	CreatedBy *int64 `json:"created_by,omitempty"`
	// LastUsedAt is when the token last authenticated a request, to
	// about a minute (absent: never since it was recorded).
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// TokenResponse answers a token creation: the secret is shown only here.
type TokenResponse struct {
	Token  *Token `json:"token"`
	Secret string `json:"secret"`
}

// SiteRequest is the body of POST /v1/sites.
type SiteRequest struct {
	Name     string `json:"name"`
	Location string `json:"location,omitempty"`
}

// Site is a place where rigs stand.
type Site struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Location  string    `json:"location"`
	CreatedAt time.Time `json:"created_at"`
}

// RigRequest is the body of POST /v1/rigs.
type RigRequest struct {
	// RigID is the firmware config's equipment id (cloudapi.ValidID).
	RigID   string `json:"rig_id"`
	RigType string `json:"rig_type"`
	// FirmwareDigest is the digest of the firmware config the rig runs:
	// cloudapi.ValidDigest (sha256:<64 lowercase hex>), or "" for none
	// (the rig is then never flagged firmware_mismatch); 400 naming
	// /firmware_digest otherwise.
	FirmwareDigest string `json:"firmware_digest,omitempty"`
	SiteID         *int64 `json:"site_id,omitempty"`
}

// RigEdit is the body of PATCH /v1/rigs/{rig}: what to change in a rig's
// registration.
type RigEdit struct {
	// FirmwareDigest replaces the rig's registered firmware digest
	// (required: cloudapi.ValidDigest, or "" for none, and a rig without
	// one is never flagged firmware_mismatch): after a firmware change,
	// or to correct a registration, so that the flag clears.
	FirmwareDigest *string `json:"firmware_digest"`
}

// Rig is a machine of the caller's organisation, named by its firmware
// config's equipment id.
type Rig struct {
	RigID          string    `json:"rig_id"`
	RigType        string    `json:"rig_type"`
	FirmwareDigest string    `json:"firmware_digest,omitempty"`
	SiteID         *int64    `json:"site_id,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
}

// Enrollment answers POST /v1/rigs/{rig}/enrollments: a one-time
// enrollment token (shown once) for the rig's agent.
type Enrollment struct {
	// ID names the token in GET and DELETE /v1/rigs/{rig}/enrollments.
	ID        int64     `json:"id"`
	Token     string    `json:"token"`
	RigID     string    `json:"rig_id"`
	ExpiresAt time.Time `json:"expires_at"`
	// Replace is the agent id whose current identity on the rig the
	// token may take over even while it checks in (EnrollmentRequest).
	Replace string `json:"replace,omitempty"`
}

// EnrollmentRequest is the optional body of POST
// /v1/rigs/{rig}/enrollments.
type EnrollmentRequest struct {
	// Replace, when set, lets the token enroll this agent id over its
	// current identity on the rig even while that identity checks in
	// (its credential is then revoked). Without it, enrolling an id whose
	// identity checked in recently is refused (409): revoke it first.
	Replace string `json:"replace,omitempty"`
}

// EnrollmentToken is an enrollment token as GET
// /v1/rigs/{rig}/enrollments lists it (never its secret).
type EnrollmentToken struct {
	ID    int64  `json:"id"`
	RigID string `json:"rig_id"`
	// State is usable, used, expired or revoked.
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	// CreatedBy is the id of the API token that made it.
	CreatedBy *int64     `json:"created_by,omitempty"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// AgentID is the agent id it enrolled (used ones).
	AgentID string `json:"agent_id,omitempty"`
	Replace string `json:"replace,omitempty"`
}

// EnrollmentsRevoked answers DELETE /v1/rigs/{rig}/enrollments: how many
// usable tokens of the rig were revoked.
type EnrollmentsRevoked struct {
	Revoked int `json:"revoked"`
}

// Agent is an enrolled agent as fleet managers see it: the current
// identity (generation) of its id (GET /v1/agents).
type Agent struct {
	AgentID string `json:"agent_id"`
	RigID   string `json:"rig_id"`
	// Generation is 1 for the first enrollment of the id, 2 after one
	// re-enrollment, and so on; earlier generations are not listed.
	Generation    int        `json:"generation"`
	EnrolledAt    time.Time  `json:"enrolled_at"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	LastCheckinAt *time.Time `json:"last_checkin_at,omitempty"`
	ClockSkewMs   *int64     `json:"clock_skew_ms,omitempty"`
	// LastCheckin is the last check-in's body (cloudapi.CheckinRequest)
	// as the agent sent it.
	LastCheckin json.RawMessage `json:"last_checkin,omitempty"`
}

// RigStatus is a rig's state (GET /v1/rigs/{rig}/status): its last
// diagnosis, its agents' last check-ins (model, model update state,
// outbox and buffer depth, link state) and open alerts.
type RigStatus struct {
	Rig
	// LastSeen is the rig's agents' latest contact as the cloud recorded
	// it (cloud clock): the latest of their last check-ins and of the
	// arrivals of each one's newest diagnosis by sequence number (not the
	// newest by window start; nil: never).
	LastSeen *time.Time `json:"last_seen,omitempty"`
	// LastDiagnosis summarises the newest diagnosis by window start.
	LastDiagnosis *DiagnosisSummary `json:"last_diagnosis,omitempty"`
	Agents        []AgentStatus     `json:"agents"`
	OpenAlerts    int               `json:"open_alerts"`
	// FirmwareMismatch is set when the rig has a registered
	// FirmwareDigest and one of its agents that is not revoked reported
	// another (AgentStatus.FirmwareMismatch; a revoked agent's report is
	// stale): the rig's firmware config changed, or the registration is
	// out of date.
	FirmwareMismatch bool `json:"firmware_mismatch,omitempty"`
}

// DiagnosisSummary is the head of a diagnosis.
type DiagnosisSummary struct {
	AgentID      string    `json:"agent_id"`
	Seq          int64     `json:"seq"`
	WindowStart  time.Time `json:"window_start"`
	WindowEnd    time.Time `json:"window_end"`
	ReceivedAt   time.Time `json:"received_at"`
	Health       float64   `json:"health"`
	Status       string    `json:"status"`
	ModelVersion string    `json:"model_version"`
}

// Agent links of AgentStatus.
const (
	LinkOnline  = "online"
	LinkOffline = "offline"
	LinkNever   = "never"
	LinkRevoked = "revoked"
)

// AgentStatus is one agent of a rig as of its last check-in.
type AgentStatus struct {
	AgentID string `json:"agent_id"`
	// Link is LinkOnline (checked in within twice the check-in
	// interval), LinkOffline, LinkNever (never checked in) or LinkRevoked.
	Link          string     `json:"link"`
	LastCheckinAt *time.Time `json:"last_checkin_at,omitempty"`
	ClockSkewMs   *int64     `json:"clock_skew_ms,omitempty"`
	AgentVersion  string     `json:"agent_version,omitempty"`
	// Model, Outbox and Buffer are the last check-in's (absent: never
	// checked in, or not reported).
	Model  *diag.ModelRef         `json:"model,omitempty"`
	Outbox *cloudapi.OutboxStatus `json:"outbox,omitempty"`
	Buffer *cloudapi.BufferStatus `json:"buffer,omitempty"`
	// Update is the last check-in's model update state (absent: never
	// checked in, updates not configured, or an agent that does not
	// report them).
	Update *cloudapi.UpdateStatus `json:"update,omitempty"`
	// BundleFormats is the range of bundle manifest formats the agent
	// reported it reads at its last check-in (absent: never checked in, or
	// an agent too old to report them, which reads format 1 only:
	// cloudapi.LegacyBundleFormats). Rollouts offer a release only to
	// agents that read its format.
	BundleFormats *cloudapi.BundleFormats `json:"bundle_formats,omitempty"`
	// ReportedFirmwareDigest is the digest of the firmware config the
	// agent reported it runs at its last check-in that reported one
	// (cloudapi.CheckinRequest.FirmwareDigest: a check-in without it
	// leaves it as it was; absent: never reported, an agent too old to
	// report it). Rollouts offer a release only to
	// agents whose reported digest is its bundle's config digest.
	ReportedFirmwareDigest string `json:"reported_firmware_digest,omitempty"`
	// FirmwareSince is when the agent first reported
	// ReportedFirmwareDigest in a row of check-ins (cloud clock; absent
	// with it): the time of the last firmware change the cloud saw.
	FirmwareSince *time.Time `json:"firmware_since,omitempty"`
	// FirmwareMismatch is set when the rig has a registered
	// firmware_digest and ReportedFirmwareDigest is another.
	FirmwareMismatch bool `json:"firmware_mismatch,omitempty"`
}

// Health history buckets.
const (
	BucketHour = "1h"
	BucketDay  = "1d"
)

// HealthBucket is one time bucket of a component's health: the stored
// diagnoses of the rig whose window starts in it, those that report the
// component (Windows) and those that do not (MissingWindows).
type HealthBucket struct {
	// Start is the bucket's start (UTC hour or day).
	Start time.Time `json:"start"`
	// Windows is the number of diagnoses that report the component.
	Windows int `json:"windows"`
	// UnknownWindows is how many of Windows have the status unknown for
	// the component (they judged nothing: no condition target, data
	// missing): AvgHealth, MinHealth and WorstStatus leave them out, so a
	// bucket of one healthy window and 59 unknown ones reads healthy;
	// this says that 59 of its 60 windows are not in those figures.
	UnknownWindows int `json:"unknown_windows"`
	// MissingWindows is the number of the rig's diagnoses in the bucket
	// that do not report the component at all (its sensors masked, a
	// model without it): not in Windows nor in any other figure. A
	// bucket of only such diagnoses is there, with Windows 0 and
	// WorstStatus unknown, so a gap in the component's history shows.
	MissingWindows int `json:"missing_windows"`
	// AvgHealth and MinHealth are over the windows whose status for the
	// component is not unknown, Windows - UnknownWindows of them (absent
	// when every one is unknown).
	AvgHealth *float64 `json:"avg_health,omitempty"`
	MinHealth *float64 `json:"min_health,omitempty"`
	// WorstStatus is the worst of the windows' statuses for the
	// component by diag.Rank: critical, warning, healthy, then unknown
	// (a window that judged nothing) only when every window is unknown
	// or there are none (MissingWindows only).
	WorstStatus string `json:"worst_status"`
}

// HealthHistory is a component's health history (GET
// /v1/rigs/{rig}/components/{component}/health).
type HealthHistory struct {
	RigID     string    `json:"rig_id"`
	Component string    `json:"component"`
	Bucket    string    `json:"bucket"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	// Buckets are in time order; a bucket without diagnoses of the rig
	// is left out, and all are when no diagnosis of the rig, in the
	// range or not, reports the component (one the rig does not have).
	Buckets []HealthBucket `json:"buckets"`
}

// Alert states.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
)

// Alert is an alert opened from diagnoses: one open or acknowledged alert
// per rig, component and fault, counting its occurrences. An anomaly-head
// finding, named by the agent's rules (diag.SuspectedFault) or not, counts
// on the alert of its component with Fault "" (the anomaly): its suspected
// name may change from window to window while the anomaly persists.
type Alert struct {
	ID             int64      `json:"id"`
	RigID          string     `json:"rig_id"`
	Component      string     `json:"component"`
	Fault          string     `json:"fault"`
	Severity       string     `json:"severity"`
	State          string     `json:"state"`
	OpenedAt       time.Time  `json:"opened_at"`
	LastSeenAt     time.Time  `json:"last_seen_at"`
	Occurrences    int        `json:"occurrences"`
	AcknowledgedAt *time.Time `json:"acknowledged_at,omitempty"`
	ResolvedAt     *time.Time `json:"resolved_at,omitempty"`
	// Suspected is the fault the agent's rules suspected in the latest
	// window of an anomaly alert (Fault ""), by window end; absent when
	// that window's anomaly was unnamed, and on a class head's alert.
	Suspected string `json:"suspected,omitempty"`
	// SuspectedFaults counts an anomaly alert's windows per suspected
	// fault (the unnamed ones are Occurrences less their sum).
	SuspectedFaults map[string]int `json:"suspected_faults,omitempty"`
}
