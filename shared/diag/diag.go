// Package diag defines a diagnosis: what the edge agent concludes from one
// window of a rig's readings, what it stores locally, publishes on MQTT and
// forwards to the cloud. One definition serves all of them.
//
// A Diagnosis holds per-component health and status, per-target class
// probabilities, anomaly scores per component and sensor, remaining useful
// life where the model has it, recommendations, and the provenance of the
// result (model version, window, inference time). Sensors that were missing
// or stale in the window are listed, never silently zero-filled.
package diag

import (
	"time"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Health thresholds: a component with health at or above HealthyAt is
// healthy, below CriticalBelow critical, and in between warning.
const (
	HealthyAt     = 0.7
	CriticalBelow = 0.5
)

// MaxRecommendations caps Diagnosis.Recommendations.
const MaxRecommendations = 10

// Status is the traffic-light state of a component or rig.
type Status string

// Statuses, from best to worst. Unknown is used when too little data was
// present to judge, or, for a component, when nothing the model was
// trained on judges its health (no condition target on it): an unknown
// component does not count toward the rig's status (see ClassHealth).
const (
	Healthy  Status = "healthy"
	Warning  Status = "warning"
	Critical Status = "critical"
	Unknown  Status = "unknown"
)

// StatusOf maps a health in [0, 1] to a status.
func StatusOf(health float64) Status {
	switch {
	case health != health: // NaN
		return Unknown
	case health >= HealthyAt:
		return Healthy
	case health < CriticalBelow:
		return Critical
	}
	return Warning
}

// Severity orders anomalies and recommendations.
type Severity string

// Severities, from least to most urgent.
const (
	SeverityInfo     Severity = "info"
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Diagnosis is the result of running a model on one window of one rig.
type Diagnosis struct {
	// RigID identifies the rig (the firmware config's equipment id).
	RigID string `json:"rig_id"`
	// RigType is the firmware config's rig type.
	RigType string `json:"rig_type"`
	// AgentID and Seq identify the diagnosis across the fleet: Seq is
	// strictly increasing per agent and, with AgentID, is the idempotency
	// key of forwarding.
	AgentID string `json:"agent_id,omitempty"`
	Seq     uint64 `json:"seq"`
	// CreatedAt is when the diagnosis was made.
	CreatedAt time.Time `json:"created_at"`
	// Window is the data the diagnosis is about.
	Window Window `json:"window"`
	// Model identifies the model that produced it.
	Model ModelRef `json:"model"`
	// InferenceMicros is the model's run time for this window.
	InferenceMicros int64 `json:"inference_us"`
	// Health is the overall rig health in [0, 1] and Status its state.
	Health float64 `json:"health"`
	Status Status  `json:"status"`
	// Calibrating is true while the model's anomaly detector calibrates on
	// the deployment's first data (e.g. a SKAB detector's first 400 rows):
	// Status is then Unknown because nothing is judged yet, not because
	// data was missing, and the diagnosis is not an alert.
	Calibrating bool `json:"calibrating,omitempty"`
	// Components are per-component results, in firmware-config order.
	Components []ComponentHealth `json:"components"`
	// Targets are per-target class probabilities, in config order.
	Targets []TargetResult `json:"targets,omitempty"`
	// Sensors are per-sensor anomaly scores, in config order.
	Sensors []SensorScore `json:"sensors,omitempty"`
	// Anomalies are what the model found, most severe first.
	Anomalies []Anomaly `json:"anomalies,omitempty"`
	// RUL is the remaining useful life: the model's RUL head where the
	// bundle has one, else the edge agent's trend estimate (EstimateRUL)
	// of the component that reaches the critical band first; nil when
	// neither has one.
	RUL *RUL `json:"rul,omitempty"`
	// Recommendations are maintenance actions, most urgent first, at most
	// MaxRecommendations.
	Recommendations []Recommendation `json:"recommendations,omitempty"`
}

// Window describes the readings a diagnosis was made from.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Steps is the number of grid steps (the model's T).
	Steps int `json:"steps"`
	// Coverage is the fraction of (sensor, step) cells that held data.
	Coverage float64 `json:"coverage"`
	// Missing lists sensors with no data in the window; Stale lists
	// sensors with some cells missing. Both were masked for the model.
	Missing []string `json:"missing,omitempty"`
	Stale   []string `json:"stale,omitempty"`
}

// ModelRef identifies a model bundle.
type ModelRef struct {
	Version string `json:"version"`
	// Digest is the bundle manifest's digest.
	Digest string `json:"digest,omitempty"`
	// Precision is "fp32" or "int8".
	Precision string `json:"precision,omitempty"`
}

// ComponentHealth is the state of one component.
type ComponentHealth struct {
	ID     string  `json:"id"`
	Health float64 `json:"health"`
	Status Status  `json:"status"`
	// AnomalyScore is the component's anomaly score (1 = at the
	// calibrated threshold; higher is more anomalous).
	AnomalyScore float64 `json:"anomaly_score"`
	// Drivers are the sensors that drove this result most, strongest
	// first (the explanation).
	Drivers []Driver `json:"drivers,omitempty"`
}

// Driver is one sensor's contribution to a result.
type Driver struct {
	Sensor string  `json:"sensor"`
	Weight float64 `json:"weight"`
}

// TargetResult holds the class probabilities of one diagnosis target.
type TargetResult struct {
	Name string `json:"name"`
	// Classes are in the target's config order; probabilities sum to 1.
	Classes []ClassProb `json:"classes"`
	// Predicted is the index into Classes of the most probable class.
	Predicted int `json:"predicted"`
}

// ClassProb is one class of a target with its probability.
type ClassProb struct {
	Value float64 `json:"value"`
	Label string  `json:"label"`
	P     float64 `json:"p"`
}

// SensorScore is one sensor's anomaly score in the window.
type SensorScore struct {
	ID string `json:"id"`
	// Score is the calibrated anomaly score (1 = threshold).
	Score float64 `json:"score"`
	// Anomalous is Score >= 1.
	Anomalous bool `json:"anomalous"`
	// Masked is true when the sensor had no data (the score is then 0).
	Masked bool `json:"masked,omitempty"`
}

// Anomaly is one finding.
type Anomaly struct {
	// Fault names the cause; "" for an unexplained anomaly: the anomaly
	// head found the data unlike normal operation and neither a class
	// head nor the naming rules (NameAnomaly) named a fault, so
	// Components (or Sensors) say where, not why.
	Fault      rig.Fault `json:"fault"`
	Severity   Severity  `json:"severity"`
	Confidence float64   `json:"confidence"`
	Components []string  `json:"components"`
	Sensors    []string  `json:"sensors,omitempty"`
}

// RUL is remaining useful life in hours with quantiles (P10 <= P50 <=
// P90), for Component ("" when the model's head names none).
type RUL struct {
	Component string  `json:"component,omitempty"`
	P10Hours  float64 `json:"p10_hours"`
	P50Hours  float64 `json:"p50_hours"`
	P90Hours  float64 `json:"p90_hours"`
}

// Recommendation is one maintenance action.
type Recommendation struct {
	// Component is the component to act on; "" for a rig-wide finding
	// (a target on no component, e.g. fault unstable).
	Component string    `json:"component"`
	Fault     rig.Fault `json:"fault,omitempty"`
	Action    string    `json:"action"`
	Priority  Severity  `json:"priority"`
	// DaysToFailure is the estimated time left in days, where known:
	// the P50 of the component's RUL (the model's head or the health
	// trend's EstimateRUL) divided by 24.
	DaysToFailure *float64 `json:"days_to_failure,omitempty"`
	Reason        string   `json:"reason,omitempty"`
}
