package fleetapi

import "time"

// Upload request states.
const (
	UploadOpen      = "open"
	UploadDone      = "done"
	UploadCancelled = "cancelled"
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
	// part came) or UploadCancelled.
	State string `json:"state"`
	// Parts and Readings count what was stored (readings inside the range
	// and sensors).
	Parts     int        `json:"parts"`
	Readings  int64      `json:"readings"`
	CreatedAt time.Time  `json:"created_at"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
}

// FleetDatasetRequest is the body of POST /v1/datasets/from-uploads: make
// data set Name from the readings rigs RigIDs uploaded in [From, To),
// cut into the windows of RigConfig (the firmware config's YAML; every
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

// FleetDataset answers POST /v1/datasets/from-uploads: the data set
// (ready), its windows, the labels they got and what each rig gave.
type FleetDataset struct {
	Dataset Dataset            `json:"dataset"`
	Windows int                `json:"windows"`
	Labels  map[string]float64 `json:"labels"`
	Rigs    []RigStats         `json:"rigs"`
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
