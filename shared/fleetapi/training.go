package fleetapi

import (
	"encoding/json"
	"time"
)

// DatasetRequest is the body of POST /v1/datasets: the data set's name,
// layout, the firmware config it was recorded with (YAML text, checked
// as rig config) and a description. The archive follows with PUT
// /v1/datasets/{id}/archive.
type DatasetRequest struct {
	Name        string `json:"name"`
	Kind        string `json:"kind"`
	RigConfig   string `json:"rig_config"`
	Description string `json:"description,omitempty"`
}

// Dataset is a data set of an organisation.
type Dataset struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Kind is uci (recorded) or sim (rigsim); Source import or fleet.
	Kind         string `json:"kind"`
	Source       string `json:"source"`
	Description  string `json:"description,omitempty"`
	RigType      string `json:"rig_type"`
	ConfigDigest string `json:"config_digest"`
	// State is pending until its archive is stored, then ready (an
	// imported data set); building until a worker has assembled and
	// stored it, then ready or failed (a data set made from fleet
	// uploads). Only a ready data set can be trained on.
	State string `json:"state"`
	// Bytes and Digest are the archive's (ready data sets).
	Bytes  *int64  `json:"bytes,omitempty"`
	Digest *string `json:"digest,omitempty"`
	// Build is what a data set made from fleet uploads was made of and
	// how far its assembly got (source fleet only).
	Build *DatasetBuild `json:"build,omitempty"`
	// Error says why the build failed (state failed), or, while it is
	// building again, why its last attempt ended.
	Error      *string    `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UploadedAt *time.Time `json:"uploaded_at,omitempty"`
}

// Progress is a running job's last reported state.
type Progress struct {
	// Phase is what the worker does: downloading, training, exporting,
	// uploading.
	Phase  string `json:"phase"`
	Epoch  int    `json:"epoch,omitempty"`
	Epochs int    `json:"epochs,omitempty"`
	// TrainLoss is the epoch's mean training loss; ValLoss and Metrics
	// (per target "<name>.accuracy" and "<name>.macro_f1") its validation.
	TrainLoss float64            `json:"train_loss,omitempty"`
	ValLoss   float64            `json:"val_loss,omitempty"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
	BestEpoch int                `json:"best_epoch,omitempty"`
	// ETASeconds estimates the rest of the training (early stopping may
	// end sooner); ElapsedSeconds counts from the attempt's start.
	ETASeconds     float64   `json:"eta_s"`
	ElapsedSeconds float64   `json:"elapsed_s"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Artifact is a trained bundle's stored archive.
type Artifact struct {
	Bytes  int64  `json:"bytes"`
	Digest string `json:"digest"`
}

// Job is a training job.
type Job struct {
	ID        int64  `json:"id"`
	DatasetID int64  `json:"dataset_id"`
	RigType   string `json:"rig_type"`
	// Config is the job's training settings as requested.
	Config          json.RawMessage `json:"config"`
	State           string          `json:"state"`
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"max_attempts"`
	CancelRequested bool            `json:"cancel_requested"`
	Worker          *string         `json:"worker,omitempty"`
	Backend         *string         `json:"backend,omitempty"`
	LeaseExpiresAt  *time.Time      `json:"lease_expires_at,omitempty"`
	HeartbeatAt     *time.Time      `json:"heartbeat_at,omitempty"`
	Progress        *Progress       `json:"progress,omitempty"`
	Error           *string         `json:"error,omitempty"`
	Artifact        *Artifact       `json:"artifact,omitempty"`
	// ModelVersion is the registry version the job made (succeeded jobs).
	ModelVersion *int       `json:"model_version,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
	StartedAt    *time.Time `json:"started_at,omitempty"`
	FinishedAt   *time.Time `json:"finished_at,omitempty"`
}

// Finished reports whether the job is in a final state (succeeded,
// failed or cancelled).
func (j *Job) Finished() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "cancelled"
}

// LogLine is one line of a job's log. Seq orders a job's lines (the
// logs' paging cursor; not contiguous); Number is the line's number in
// its attempt (1, 2, ...), given by the worker: each is stored once.
// Number is 0 (left out of the JSON) for a line stored by a worker of
// the release before line numbers, during a rolling upgrade: such lines
// are stored at least once, as before.
type LogLine struct {
	Seq     int64     `json:"seq"`
	Attempt int       `json:"attempt"`
	Number  int       `json:"number,omitempty"`
	At      time.Time `json:"at"`
	Line    string    `json:"line"`
}

// ModelVersion is one trained bundle in the registry: numbered per
// organisation and rig type, with its metrics and lineage.
type ModelVersion struct {
	ID            int64  `json:"id"`
	RigType       string `json:"rig_type"`
	Version       int    `json:"version"`
	BundleName    string `json:"bundle_name"`
	BundleVersion string `json:"bundle_version"`
	JobID         int64  `json:"job_id"`
	// Lineage: the data set (id, the digest of its files as the trainer
	// read them, and of its stored archive), the code version of the
	// worker, the backend and the resolved training config.
	DatasetID     int64              `json:"dataset_id"`
	DatasetDigest string             `json:"dataset_digest"`
	ArchiveDigest string             `json:"archive_digest"`
	CodeVersion   string             `json:"code_version"`
	Backend       string             `json:"backend"`
	Config        map[string]any     `json:"config"`
	Metrics       map[string]float64 `json:"metrics"`
	// Manifest is the bundle's manifest.json (shared/bundle; one version
	// only, not in lists).
	Manifest  json.RawMessage `json:"manifest,omitempty"`
	Artifact  Artifact        `json:"artifact"`
	CreatedAt time.Time       `json:"created_at"`
}

// MetricDelta compares one metric of two versions.
type MetricDelta struct {
	Metric string   `json:"metric"`
	A      *float64 `json:"a"`
	B      *float64 `json:"b"`
	// Delta is B - A (absent when either is missing).
	Delta *float64 `json:"delta,omitempty"`
}

// ConfigChange is a training setting that differs between two versions.
type ConfigChange struct {
	Key string `json:"key"`
	A   any    `json:"a"`
	B   any    `json:"b"`
}

// Comparison is version B against version A of a rig type (GET
// /v1/models/{rig_type}/compare?a=&b=).
type Comparison struct {
	RigType string         `json:"rig_type"`
	A       *ModelVersion  `json:"a"`
	B       *ModelVersion  `json:"b"`
	Metrics []MetricDelta  `json:"metrics"`
	Config  []ConfigChange `json:"config_changes"`
	// SameDataset is whether both were trained on the same data set
	// content (dataset digest).
	SameDataset bool `json:"same_dataset"`
}
