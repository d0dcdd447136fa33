package cloudclient

import (
	"encoding/json"
	"time"
)

// Progress is a training job's last reported progress.
type Progress struct {
	Phase          string             `json:"phase"`
	Epoch          int                `json:"epoch,omitempty"`
	Epochs         int                `json:"epochs,omitempty"`
	TrainLoss      float64            `json:"train_loss,omitempty"`
	ValLoss        float64            `json:"val_loss,omitempty"`
	Metrics        map[string]float64 `json:"metrics,omitempty"`
	BestEpoch      int                `json:"best_epoch,omitempty"`
	ETASeconds     float64            `json:"eta_s"`
	ElapsedSeconds float64            `json:"elapsed_s"`
	UpdatedAt      time.Time          `json:"updated_at"`
}

// Artifact is a stored bundle archive.
type Artifact struct {
	Bytes  int64  `json:"bytes"`
	Digest string `json:"digest"`
}

// Job is a training job (GET /v1/training/jobs/{id}).
type Job struct {
	ID              int64           `json:"id"`
	DatasetID       int64           `json:"dataset_id"`
	RigType         string          `json:"rig_type"`
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
	ModelVersion    *int            `json:"model_version,omitempty"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"`
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
}

// Finished reports whether the job is in a final state.
func (j *Job) Finished() bool {
	return j.State == "succeeded" || j.State == "failed" || j.State == "cancelled"
}

// LogLine is one line of a job's log.
type LogLine struct {
	Seq     int64     `json:"seq"`
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Line    string    `json:"line"`
}

// ModelVersion is a version of the model registry.
type ModelVersion struct {
	ID            int64              `json:"id"`
	RigType       string             `json:"rig_type"`
	Version       int                `json:"version"`
	BundleName    string             `json:"bundle_name"`
	BundleVersion string             `json:"bundle_version"`
	JobID         int64              `json:"job_id"`
	DatasetID     int64              `json:"dataset_id"`
	DatasetDigest string             `json:"dataset_digest"`
	ArchiveDigest string             `json:"archive_digest"`
	CodeVersion   string             `json:"code_version"`
	Backend       string             `json:"backend"`
	Config        map[string]any     `json:"config"`
	Metrics       map[string]float64 `json:"metrics"`
	Manifest      json.RawMessage    `json:"manifest,omitempty"`
	Artifact      Artifact           `json:"artifact"`
	CreatedAt     time.Time          `json:"created_at"`
}

// MetricDelta is one metric of a comparison; Delta is B - A.
type MetricDelta struct {
	Metric string   `json:"metric"`
	A      *float64 `json:"a"`
	B      *float64 `json:"b"`
	Delta  *float64 `json:"delta,omitempty"`
}

// ConfigChange is a training setting that differs.
type ConfigChange struct {
	Key string `json:"key"`
	A   any    `json:"a"`
	B   any    `json:"b"`
}

// Comparison answers GET /v1/models/{rig_type}/compare?a=&b=.
type Comparison struct {
	RigType     string         `json:"rig_type"`
	A           *ModelVersion  `json:"a"`
	B           *ModelVersion  `json:"b"`
	Metrics     []MetricDelta  `json:"metrics"`
	Config      []ConfigChange `json:"config_changes"`
	SameDataset bool           `json:"same_dataset"`
}
