package fleetapi

import "time"

// Upload request states.
const (
	UploadOpen      = "open"
	UploadDone      = "done"
	UploadCancelled = "cancelled"
	// UploadExpired is reported for a request still open past its
	// ExpiresAt (never stored: the agent's late parts are refused).
	UploadExpired = "expired"
)

// UploadRequestBody is the body of POST /v1/uploads: ask rig RigID's
// agent for its readings in [From, To) (of Sensors; empty: all), until
// ExpiresAt (zero: the server's default, 7 days from now).
type UploadRequestBody struct {
	RigID     string    `json:"rig_id"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Sensors   []string  `json:"sensors,omitempty"`
	MaxBytes  int64     `json:"max_bytes,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// FleetUpload is an operator's request for a rig's readings over a time
// range, and how far the rig's agent got. Its ID is "up-<n>".
type FleetUpload struct {
	ID        string    `json:"id"`
	RigID     string    `json:"rig_id"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	Sensors   []string  `json:"sensors"`
	MaxBytes  int64     `json:"max_bytes,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	// State is UploadOpen (announced at check-in), UploadDone (the last
	// part came, or the request reached its max_bytes or the server's cap
	// of readings), UploadCancelled, or UploadExpired (open past
	// ExpiresAt).
	State string `json:"state"`
	// Parts and Readings count what was stored (readings inside the range
	// and sensors); Bytes counts the stored readings as they count for
	// MaxBytes (their JSON encoding plus one each).
	Parts     int        `json:"parts"`
	Readings  int64      `json:"readings"`
	Bytes     int64      `json:"bytes"`
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

// FleetDatasetRequest is the body of POST /v1/datasets/from-uploads: make
// data set Name, in the background (the answer is the data set,
// building), from the readings rigs RigIDs uploaded in [From, To), cut
// into the windows of RigConfig (the firmware config's YAML; every
// rig must be of its rig type) and labelled with Labels (class values by
// target name; a target not named takes its normal class).
type FleetDatasetRequest struct {
	Name        string             `json:"name"`
	Description string             `json:"description,omitempty"`
	RigConfig   string             `json:"rig_config"`
	RigIDs      []string           `json:"rig_ids"`
	From        time.Time          `json:"from"`
	To          time.Time          `json:"to"`
	Labels      map[string]float64 `json:"labels,omitempty"`
}

// Phases of a data set's build (DatasetBuild.Phase).
const (
	// BuildQueued: waiting for a worker (at first, and after an attempt
	// that will be retried).
	BuildQueued = "queued"
	// BuildReading: reading the rigs' readings and cutting windows.
	BuildReading = "reading"
	// BuildStoring: writing the archive into the blob store.
	BuildStoring = "storing"
	// BuildDone: the data set is ready; BuildFailed: it failed.
	BuildDone   = "done"
	BuildFailed = "failed"
)

// DatasetBuild is how a data set is made from fleet uploads (POST
// /v1/datasets/from-uploads answers 202 with the data set building; a
// `rig-cloud worker` assembles it): what was asked, then the worker's
// progress, stored at each heartbeat, and at the end what each rig gave.
type DatasetBuild struct {
	RigIDs []string  `json:"rig_ids"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	// Labels is the class value every window gets, by target (the
	// request's labels and the normal class of the targets not named).
	Labels map[string]float64 `json:"labels"`
	// Phase is BuildQueued, BuildReading, BuildStoring, BuildDone or
	// BuildFailed; Attempt counts the workers' attempts (0: none yet).
	Phase   string `json:"phase"`
	Attempt int    `json:"attempt,omitempty"`
	// RigsDone of len(RigIDs) rigs are read; Readings were read and
	// Windows kept so far in this attempt.
	RigsDone int   `json:"rigs_done"`
	Readings int64 `json:"readings"`
	Windows  int   `json:"windows"`
	// Rigs says what each rig read gave, in RigIDs order.
	Rigs      []RigStats `json:"rigs,omitempty"`
	UpdatedAt time.Time  `json:"updated_at"`
}

// RigStats says what one rig's readings gave a fleet data set.
type RigStats struct {
	RigID string `json:"rig_id"`
	// Readings is the number of uploaded readings in the range.
	Readings int64 `json:"readings"`
	// Windows were kept; Skipped had readings but a missing cell.
	Windows int `json:"windows"`
	Skipped int `json:"skipped"`
}
