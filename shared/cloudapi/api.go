package cloudapi

import (
	"strconv"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Version is the contract's major version, the first path element.
const Version = "v1"

// Endpoints, relative to the cloud's base URL.
const (
	PathEnroll    = "/v1/agent/enroll"
	PathCheckin   = "/v1/agent/checkin"
	PathDiagnoses = "/v1/agent/diagnoses"
	PathUploads   = "/v1/agent/uploads"
)

// Headers and media types.
const (
	// HeaderAuthorization carries "Bearer <credential>" on every request.
	HeaderAuthorization = "Authorization"
	// HeaderIdempotencyKey carries BatchKey of the request's items.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderRetryAfter on a 429 or 503 (or any retryable status) says how
	// long to wait: delta seconds or an HTTP date (ParseRetryAfter).
	HeaderRetryAfter = "Retry-After"
	// MediaJSON is the type of request and response bodies.
	MediaJSON = "application/json"
	// MediaProblem is the type of error bodies (RFC 9457).
	MediaProblem = "application/problem+json"
)

// Limits every v1 server accepts at least; a server may announce higher
// ones in CheckinResponse.Limits, never lower. The hard maxima bound what a
// server may announce and what a decoder of this package accepts.
const (
	// DefaultMaxBatchItems is the most diagnoses (or readings per upload
	// part: DefaultMaxUploadReadings) a server must accept in one request.
	DefaultMaxBatchItems = 1000
	// DefaultMaxBodyBytes is the largest request body a server must accept,
	// after gzip decoding. The gzip-encoded body on the wire is at most
	// this too.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultMaxUploadReadings is the most readings in one Upload part.
	DefaultMaxUploadReadings = 100_000
	// MaxBatchItems and MaxBodyBytes are the hard maxima.
	MaxBatchItems = 10_000
	MaxBodyBytes  = 64 << 20
	// MaxUploadReadings is the hard maximum of readings per part.
	MaxUploadReadings = 1_000_000
	// MaxUploadRequests caps CheckinResponse.UploadRequests.
	MaxUploadRequests = 100
)

// EnrollRequest is the body of POST /v1/agent/enroll, sent once with
// "Authorization: Bearer <enrollment token>" (an operator made the token
// for one rig). The answer is an EnrollResponse.
//
// Every enrollment makes a new agent identity bound to the token's rig:
// enrolling an agent id that is already enrolled for that rig (a
// reinstalled rig computer) replaces it: the old credential is revoked at
// once, and the new identity's sequence numbers start afresh without
// colliding with the diagnoses the old one stored (they stay on the rig).
type EnrollRequest struct {
	// AgentID is the agent's id (ValidID), unique among the organisation's
	// enrolled agents.
	AgentID string `json:"agent_id"`
	// RigID, when set, must be the enrollment token's rig (else 403).
	RigID string `json:"rig_id,omitempty"`
}

// EnrollResponse answers an EnrollRequest with status 200: the agent's
// credential (shown once: the agent stores it in cloud.credential_file)
// and what it is bound to.
type EnrollResponse struct {
	AgentID string `json:"agent_id"`
	RigID   string `json:"rig_id"`
	RigType string `json:"rig_type"`
	// Credential is the bearer credential of every later request.
	Credential string `json:"credential"`
	// Generation counts the enrollments of AgentID in the organisation:
	// 1 the first time, 2 after one re-enrollment, and so on. The
	// idempotency keys of diagnoses (Key) are per generation.
	Generation int `json:"generation"`
}

// CheckinRequest is the body of POST /v1/agent/checkin: the agent's state.
// The agent checks in when it starts, every CheckinResponse.NextCheckin and
// before it sends after a failure.
type CheckinRequest struct {
	// AgentID is the agent's id (ValidID); it must be the credential's.
	AgentID string `json:"agent_id"`
	// RigID and RigType are the firmware config's equipment id and type.
	RigID   string `json:"rig_id"`
	RigType string `json:"rig_type"`
	// AgentVersion is the rig-agent build ("" when unknown).
	AgentVersion string `json:"agent_version,omitempty"`
	// Time is the agent's clock when it sent the request; the cloud
	// compares it with its own to report clock skew.
	Time time.Time `json:"time"`
	// Model is the model bundle in use (nil: none loaded).
	Model *diag.ModelRef `json:"model,omitempty"`
	// Outbox is the state of the agent's store-and-forward queue.
	Outbox OutboxStatus `json:"outbox"`
	// Buffer is the state of the reading buffer (nil: not reported).
	Buffer *BufferStatus `json:"buffer,omitempty"`
	// Uploads lists the upload requests the agent is working on.
	Uploads []UploadProgress `json:"uploads,omitempty"`
	// Update is the state of the agent's model updates (nil: updates not
	// configured, or an agent that does not report them).
	Update *UpdateStatus `json:"update,omitempty"`
	// BundleFormats is the range of model-bundle manifest formats the
	// agent reads (nil: an agent older than this field, which reads
	// format 1 only: LegacyBundleFormats). A rollout offers a release
	// only to agents that read its bundle's format.
	BundleFormats *BundleFormats `json:"bundle_formats,omitempty"`
	// FirmwareDigest is the digest of the firmware config the agent
	// loaded ("sha256:<64 lowercase hex>", shared/rig Config.Digest: the
	// config_digest of the model bundles it accepts; ValidDigest), or ""
	// for an agent older than this field. The cloud shows it in the rig's
	// status, flags it when it differs from the rig's registered
	// firmware_digest, and a rollout offers a release only to agents
	// whose firmware config is the one its bundle was made for.
	FirmwareDigest string `json:"firmware_digest,omitempty"`
}

// FieldFirmwareDigest is CheckinRequest.FirmwareDigest's JSON name. A
// cloud older than the field refuses a check-in holding it (400, unknown
// field: UnknownFieldRefused); the agent then checks in without it, as
// with FieldBundleFormats.
const FieldFirmwareDigest = "firmware_digest"

// FieldBundleFormats is CheckinRequest.BundleFormats's JSON name. A
// cloud older than the field refuses a check-in holding it (400, unknown
// field: UnknownFieldRefused); the agent then checks in without it.
const FieldBundleFormats = "bundle_formats"

// BundleFormats is a range of model-bundle manifest formats
// (shared/bundle, manifest.json's format_version), Min to Max inclusive.
type BundleFormats struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// MaxBundleFormat bounds BundleFormats.Max (ValidateCheckin).
const MaxBundleFormat = 1000

// LegacyBundleFormats is what an agent that does not report
// BundleFormats reads: format 1 only (the only format before format 2).
var LegacyBundleFormats = BundleFormats{Min: 1, Max: 1}

// Reads reports whether format v is in f.
func (f BundleFormats) Reads(v int) bool { return v >= f.Min && v <= f.Max }

// String is "min..max".
func (f BundleFormats) String() string { return strconv.Itoa(f.Min) + ".." + strconv.Itoa(f.Max) }

// Formats returns the bundle formats r says the agent reads:
// r.BundleFormats, or LegacyBundleFormats when it says none.
func (r *CheckinRequest) Formats() BundleFormats {
	if r.BundleFormats == nil {
		return LegacyBundleFormats
	}
	return *r.BundleFormats
}

// UpdateStatus is the state of the agent's model-update state machine
// (agent/internal/update, docs/releases.md): the installed release, the
// one in progress, and how the last attempts went.
type UpdateStatus struct {
	// State is the machine's state: one of the stable names idle,
	// downloading, verifying, staged, canary, committing, committed,
	// rolling_back, failed, incompatible (the offered release, Target,
	// does not fit the agent and was refused; no attempt counted). A
	// newer agent may report a name this list lacks: a name, at most
	// MaxNameLen bytes.
	State string `json:"state"`
	// Installed is the version of the model the agent serves; Previous
	// the one a rollback returns to ("" when none).
	Installed string `json:"installed"`
	Previous  string `json:"previous,omitempty"`
	// Target and TargetVersion name the release in progress ("" when
	// none).
	Target        string `json:"target,omitempty"`
	TargetVersion string `json:"target_version,omitempty"`
	// Attempts counts the failed attempts of the release in progress, or
	// of the last one that failed.
	Attempts int `json:"attempts,omitempty"`
	// Rollbacks counts the committed releases rolled back on this rig.
	Rollbacks int `json:"rollbacks,omitempty"`
	// Rollout is the id of the rollout whose offer the agent's last check
	// followed (0 or absent: no offer, or none said; Offer.Rollout), so
	// that the cloud can tell which rollout a state belongs to.
	Rollout int64 `json:"rollout,omitempty"`
	// LastError is why the last attempt failed or was rolled back (at
	// most MaxTextLen bytes).
	LastError string `json:"last_error,omitempty"`
	// WatchUntil ends the watch of a just committed model (nil: none).
	WatchUntil *time.Time `json:"watch_until,omitempty"`
	// Changed is when the state last changed.
	Changed time.Time `json:"changed"`
}

// OutboxStatus describes the agent's queue of diagnoses not yet accepted
// by the cloud. Counters count since the agent started.
type OutboxStatus struct {
	Items  int   `json:"items"`
	Alerts int   `json:"alerts"`
	Bytes  int64 `json:"bytes"`
	// Oldest is when the oldest queued diagnosis was queued (nil: empty).
	Oldest *time.Time `json:"oldest,omitempty"`
	// Dropped counts diagnoses removed unsent because the outbox was full;
	// Rejected those the cloud refused (ItemRejected, ItemConflict).
	Dropped  uint64 `json:"dropped"`
	Rejected uint64 `json:"rejected"`
}

// BufferStatus describes the agent's reading buffer.
type BufferStatus struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
	// Dropped counts readings removed unforwarded by the buffer's caps.
	Dropped uint64 `json:"dropped"`
}

// UploadProgress is how far the agent got with one UploadRequest.
type UploadProgress struct {
	RequestID string `json:"request_id"`
	// PartsSent counts parts the cloud has accepted.
	PartsSent uint32 `json:"parts_sent"`
	// ReadingsSent counts readings in those parts.
	ReadingsSent int64 `json:"readings_sent"`
}

// CheckinResponse is the cloud's answer to a check-in.
type CheckinResponse struct {
	// ServerTime is the cloud's clock.
	ServerTime time.Time `json:"server_time"`
	// NextCheckinS is the number of seconds until the next check-in
	// (0: the agent's default, 300).
	NextCheckinS int `json:"next_checkin_s,omitempty"`
	// Limits are what this server accepts (zero fields: the defaults).
	Limits Limits `json:"limits"`
	// UploadRequests are the readings the cloud wants, for training. A
	// request stays listed until its last part is accepted, it expires or
	// the cloud cancels it; the agent drops requests no longer listed.
	UploadRequests []UploadRequest `json:"upload_requests,omitempty"`
	// Generation is the enrollment generation of the credential's agent
	// identity (EnrollResponse.Generation; 0: a cloud older than the
	// field). The agent puts it in its Idempotency-Keys (BatchKey,
	// UploadKey), so that a re-enrolled agent's keys, whose sequence
	// numbers restart at 1, never repeat an earlier identity's.
	Generation int `json:"generation,omitempty"`
	// HighestSeq is the highest diagnosis sequence number (Diagnosis.Seq)
	// the cloud holds for the credential's agent identity, that is for
	// this enrollment generation (0: none, or a cloud older than the
	// field). An agent whose next sequence number is at or below it has
	// lost its numbering (its history and sequence mark): it continues
	// above HighestSeq and renumbers the diagnoses it numbered at or
	// below it and has not sent yet, which the cloud would otherwise
	// answer as duplicates or conflicts of stored ones
	// (docs/agent-cloud-api.md, "Sequence numbers after a lost history").
	HighestSeq uint64 `json:"highest_seq,omitempty"`
	// Offer is the model release a rollout offers this agent (nil: none).
	// The agent installs only an offered release (docs/agent-cloud-api.md,
	// "Offers"): without an offer it installs nothing new and keeps
	// serving its committed model. An offer older than the installed
	// version is an explicit rollback to it.
	Offer *Offer `json:"offer,omitempty"`
}

// Offer names one release of the TUF repository that the agent may
// install. It grants permission only: the release must still pass every
// check of the agent's update machine (TUF verification against fresh
// metadata, rig type, firmware config, hardware, agent version, canary).
type Offer struct {
	// Target is the release's TUF target path
	// (<rig_type>/<bundle>-<version>.tar.gz), at most MaxTargetSegments
	// segments of letters, digits and ._+- not starting with a dot.
	Target string `json:"target"`
	// Version is the release's version, as its release metadata states
	// it; the agent refuses a target whose signed version differs.
	Version string `json:"version"`
	// Rollout is the id of the rollout making the offer (0: not said),
	// for logs and reports.
	Rollout int64 `json:"rollout,omitempty"`
}

// Limits a server announces; zero means the Default constant.
type Limits struct {
	MaxBatchItems     int   `json:"max_batch_items,omitempty"`
	MaxBodyBytes      int64 `json:"max_body_bytes,omitempty"`
	MaxUploadReadings int   `json:"max_upload_readings,omitempty"`
}

// WithDefaults returns l with zero fields set to the defaults and every
// field clamped to the hard maxima.
func (l Limits) WithDefaults() Limits {
	if l.MaxBatchItems <= 0 {
		l.MaxBatchItems = DefaultMaxBatchItems
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if l.MaxUploadReadings <= 0 {
		l.MaxUploadReadings = DefaultMaxUploadReadings
	}
	l.MaxBatchItems = min(l.MaxBatchItems, MaxBatchItems)
	l.MaxBodyBytes = min(l.MaxBodyBytes, MaxBodyBytes)
	l.MaxUploadReadings = min(l.MaxUploadReadings, MaxUploadReadings)
	return l
}

// UploadKind says what an UploadRequest wants.
type UploadKind string

// Upload kinds. Model windows are requested as the readings of their time
// range: the cloud cuts windows with the same shared/prep code as the
// agent, from the raw readings, so training data does not depend on the
// agent's model bundle.
const (
	UploadReadings UploadKind = "readings"
)

// UploadRequest asks the agent for the readings it still holds in a time
// range (sensor time, [From, To)). Readings the buffer no longer holds are
// not sent; the last part says how many were found.
type UploadRequest struct {
	// ID names the request (ValidID), unique per agent.
	ID   string     `json:"id"`
	Kind UploadKind `json:"kind"`
	From time.Time  `json:"from"`
	To   time.Time  `json:"to"`
	// Sensors restricts the readings to these sensor ids (empty: all).
	Sensors []string `json:"sensors,omitempty"`
	// MaxBytes caps the request's encoded readings (0: no cap beyond the
	// agent's bandwidth caps); the agent stops with Last at the cap.
	MaxBytes int64 `json:"max_bytes,omitempty"`
	// ExpiresAt is when the cloud stops wanting it (zero: never).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// DiagnosisBatch is the body of POST /v1/agent/diagnoses. Diagnoses may be
// in any order (the agent sends alerts first); each one's AgentID is the
// batch's AgentID and its Seq is unique in the batch.
type DiagnosisBatch struct {
	AgentID   string           `json:"agent_id"`
	Diagnoses []diag.Diagnosis `json:"diagnoses"`
}

// BatchResponse answers a DiagnosisBatch with status 200: one result per
// diagnosis, in the batch's order, and the counts of each status. Every
// item in it has a final status: the agent removes all of them from its
// outbox.
type BatchResponse struct {
	Accepted   int          `json:"accepted"`
	Duplicates int          `json:"duplicates"`
	Rejected   int          `json:"rejected"`
	Conflicts  int          `json:"conflicts"`
	Results    []ItemResult `json:"results"`
}

// ItemStatus is the outcome of one item of a request.
type ItemStatus string

// Item statuses. All are final: none is retried.
const (
	// ItemAccepted: stored now.
	ItemAccepted ItemStatus = "accepted"
	// ItemDuplicate: the key was stored before with the same fingerprint;
	// nothing changed.
	ItemDuplicate ItemStatus = "duplicate"
	// ItemConflict: the key was stored before with a different
	// fingerprint; the stored one is kept and this one discarded.
	ItemConflict ItemStatus = "conflict"
	// ItemRejected: the item is invalid (Problem says why); not stored.
	ItemRejected ItemStatus = "rejected"
)

// ItemResult is the outcome for the diagnosis with sequence number Seq.
type ItemResult struct {
	Seq    uint64     `json:"seq"`
	Status ItemStatus `json:"status"`
	// Problem says why, for ItemRejected and ItemConflict.
	Problem *Problem `json:"problem,omitempty"`
}

// Count tallies results into the response's counters.
func (r *BatchResponse) Count() {
	r.Accepted, r.Duplicates, r.Rejected, r.Conflicts = 0, 0, 0, 0
	for _, it := range r.Results {
		switch it.Status {
		case ItemAccepted:
			r.Accepted++
		case ItemDuplicate:
			r.Duplicates++
		case ItemRejected:
			r.Rejected++
		case ItemConflict:
			r.Conflicts++
		}
	}
}

// Upload is the body of POST /v1/agent/uploads: part Part (0, 1, 2, ...
// sent in order) of the readings UploadRequest RequestID asked for, in
// buffer order. Last marks the final part (it may hold no readings).
type Upload struct {
	AgentID   string            `json:"agent_id"`
	RequestID string            `json:"request_id"`
	Part      uint32            `json:"part"`
	Last      bool              `json:"last,omitempty"`
	Readings  []reading.Reading `json:"readings"`
}

// UploadResponse answers an Upload with status 200. Status is
// ItemAccepted, ItemDuplicate (the part was stored before with the same
// content, UploadFingerprint) or ItemConflict (stored before with other
// content: the stored part is kept and this one is not; Problem, of type
// ProblemConflict, says so). Done is true once the cloud holds the whole
// request (after the Last part).
type UploadResponse struct {
	RequestID string     `json:"request_id"`
	Part      uint32     `json:"part"`
	Status    ItemStatus `json:"status"`
	Done      bool       `json:"done,omitempty"`
	// Problem says why, for ItemConflict.
	Problem *Problem `json:"problem,omitempty"`
}
