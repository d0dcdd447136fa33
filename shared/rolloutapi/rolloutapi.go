// Package rolloutapi is the contract of rig-cloud's rollout routes
// (/v1/rollouts), shared by the server (cloud/internal/httpapi) and its
// clients (rigctl rollout): the requests to create and to edit a rollout,
// their validation, and the rollout, cohort and per-agent states it reports.
//
// A rollout offers one release (a TUF target of the deployment's
// repository) to the agents of an organisation that its Selection picks,
// cohort by cohort: each cohort is offered the release, soaks, and the
// next one starts once enough of the cohort's agents committed the
// release and stayed on it through the soak; too many failures halt it.
// See docs/releases.md, "Rollouts".
package rolloutapi

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// State is a rollout's state.
type State string

// Rollout states. Running, Paused and Halted are active; the others are
// final except Completed and Aborted, which may still be rolled back.
const (
	// Running: the current cohort is offered the release and the engine
	// advances or halts the rollout.
	Running State = "running"
	// Paused: stopped by an operator; no offers until resumed.
	Paused State = "paused"
	// Halted: stopped by the engine because a cohort crossed its failure
	// threshold; no offers until resumed (or aborted, rolled back).
	Halted State = "halted"
	// Completed: every cohort met its success threshold; the release
	// stays offered to every selected agent.
	Completed State = "completed"
	// Aborted: stopped for good by an operator; no offers. Agents keep
	// what they installed.
	Aborted State = "aborted"
	// RolledBack: the previous release is offered to every agent of a
	// started cohort (an explicit rollback on agents that installed the
	// release). Final.
	RolledBack State = "rolled_back"
)

// States lists the rollout states in order.
var States = []State{Running, Paused, Halted, Completed, Aborted, RolledBack}

// Active reports whether s is running, paused or halted.
func (s State) Active() bool { return s == Running || s == Paused || s == Halted }

// CohortState is a cohort's state.
type CohortState string

// Cohort states.
const (
	CohortPending   CohortState = "pending"   // not started: its agents get no offer
	CohortSoaking   CohortState = "soaking"   // offered, waiting for its success threshold after the soak
	CohortSucceeded CohortState = "succeeded" // met its success threshold after the soak
	CohortFailed    CohortState = "failed"    // crossed its failure threshold: the rollout halted
)

// AgentState is one agent's state in a rollout, from its check-ins.
type AgentState string

// Agent states, in the order an agent normally goes through them.
const (
	AgentPending     AgentState = "pending"     // its cohort has not started
	AgentOffered     AgentState = "offered"     // its cohort started; no report of the release yet
	AgentDownloading AgentState = "downloading" // downloading, verifying or staged
	AgentCanary      AgentState = "canary"      // canary or committing
	AgentCommitted   AgentState = "committed"   // serves the release (since CommittedAt)
	AgentFailed      AgentState = "failed"      // its last attempt failed (it may retry)
	AgentRolledBack  AgentState = "rolled_back" // went back to another release after committing, or gave it up
	// AgentIncompatible: the agent does not read the manifest format of
	// the release's bundle (Release.BundleFormat; it reports the formats
	// it reads at check-in, cloudapi.CheckinRequest.BundleFormats), so it
	// is offered nothing; or it refused the offered release itself as not
	// for it (update state incompatible: another firmware config,
	// hardware or agent version, a downgrade to a release it never ran),
	// Detail its reason, and is still offered it. It counts neither as a
	// failure nor toward its cohort's size when the thresholds are
	// applied, and leaves this state at the first check-in that reads the
	// format and does not report the release incompatible.
	AgentIncompatible AgentState = "incompatible"
)

// AgentStates lists the agent states in order.
var AgentStates = []AgentState{AgentPending, AgentOffered, AgentDownloading, AgentCanary, AgentCommitted, AgentFailed, AgentRolledBack, AgentIncompatible}

// Selection picks the agents of a rollout in the caller's organisation:
// current (enrolled, not revoked) agents of rigs of the release's rig
// type that match every field given.
type Selection struct {
	// Sites are site names (empty: every site, and rigs with none).
	Sites []string `json:"sites,omitempty"`
	// RigType must be the release's rig type when given.
	RigType string `json:"rig_type,omitempty"`
	// Labels must all be on the rig with these values (empty: any rig).
	Labels map[string]string `json:"labels,omitempty"`
	// Rigs are rig ids (empty: every rig).
	Rigs []string `json:"rigs,omitempty"`
}

// CohortSpec is one cohort of a CreateRequest: it covers the selected
// agents up to Agents (a count) or Percent (of all selected agents,
// rounded up), counted from the first cohort; exactly one of the two is
// set. Cohorts must grow; the last must be Percent 100.
type CohortSpec struct {
	Agents  int     `json:"agents,omitempty"`
	Percent float64 `json:"percent,omitempty"`
	// SoakS is this cohort's soak in seconds (0: the rollout's SoakS).
	SoakS float64 `json:"soak_s,omitempty"`
}

// Defaults of a CreateRequest's zero fields.
var (
	// DefaultCohorts: 1 agent, then 10 %, 50 % and 100 %.
	DefaultCohorts = []CohortSpec{{Agents: 1}, {Percent: 10}, {Percent: 50}, {Percent: 100}}
)

// Defaults of a CreateRequest's zero fields, and bounds.
const (
	DefaultSoakS            = 3600.0
	DefaultSuccessThreshold = 0.9
	DefaultFailureThreshold = 0.1
	// MaxCohorts bounds CreateRequest.Cohorts.
	MaxCohorts = 20
	// MaxSoakS bounds a soak: 30 days.
	MaxSoakS = 30 * 24 * 3600.0
	// MaxAgents bounds the agents one rollout selects.
	MaxAgents = 100_000
	// MaxLabels bounds a selection's labels and a rig's.
	MaxLabels = 64
)

// CreateRequest is the body of POST /v1/rollouts.
type CreateRequest struct {
	// Release is the TUF target path of the release to roll out
	// (<rig_type>/<bundle>-<version>.tar.gz), as `rigctl release publish`
	// printed it.
	Release string `json:"release"`
	// Previous is the release a fleet-level rollback offers. It must be
	// made for Release's firmware config (the same config digest; 422
	// naming both digests otherwise): a rollback is offered only to
	// agents that run the previous release's config, and the agents that
	// installed Release run Release's. "": the release the selected
	// agents serve, by their last check-in, when they all serve one older
	// release made for that config; 422 when they serve several; when
	// they serve none such, the newest release of the same bundle and rig
	// type older than Release, made for that config, that is neither a
	// prerelease nor the release of a rollout of the organisation that
	// halted or was rolled back, if any.
	Previous string `json:"previous,omitempty"`
	// Selection picks the agents.
	Selection Selection `json:"selection"`
	// Cohorts (empty: DefaultCohorts).
	Cohorts []CohortSpec `json:"cohorts,omitempty"`
	// SoakS is each cohort's soak in seconds, unless the cohort names
	// its own (0: DefaultSoakS).
	SoakS float64 `json:"soak_s,omitempty"`
	// SuccessThreshold is the share (0, 1] of a cohort's agents that must
	// have committed the release and stayed on it through the soak for
	// the next cohort to start (0: DefaultSuccessThreshold).
	SuccessThreshold float64 `json:"success_threshold,omitempty"`
	// FailureThreshold is the share (0, 1] of a started cohort's agents
	// failed or rolled back at which the rollout halts
	// (0: DefaultFailureThreshold).
	FailureThreshold float64 `json:"failure_threshold,omitempty"`
	// AllowDowngrade lets the rollout offer a release older than what
	// some selected agents serve (by their last check-in); without it
	// that is refused (422). Admin tokens only (403). Agents still
	// install an older release only when it is their kept previous
	// bundle (docs/releases.md, "Downgrades").
	AllowDowngrade bool `json:"allow_downgrade,omitempty"`
}

// WithDefaults returns r with its zero fields set to the defaults.
func (r CreateRequest) WithDefaults() CreateRequest {
	if len(r.Cohorts) == 0 {
		r.Cohorts = append([]CohortSpec(nil), DefaultCohorts...)
	}
	if r.SoakS == 0 {
		r.SoakS = DefaultSoakS
	}
	if r.SuccessThreshold == 0 {
		r.SuccessThreshold = DefaultSuccessThreshold
	}
	if r.FailureThreshold == 0 {
		r.FailureThreshold = DefaultFailureThreshold
	}
	return r
}

// Validate checks r (after WithDefaults); the error is a
// *cloudapi.Problem (400, invalid-body) listing every invalid field.
func (r *CreateRequest) Validate() error {
	var errs []cloudapi.FieldProblem
	add := func(ptr, format string, args ...any) {
		errs = append(errs, cloudapi.FieldProblem{Pointer: ptr, Detail: fmt.Sprintf(format, args...)})
	}
	if !cloudapi.ValidTarget(r.Release) {
		add("/release", "%q is not a release's target path (<rig_type>/<bundle>-<version>.tar.gz)", r.Release)
	}
	if r.Previous != "" && !cloudapi.ValidTarget(r.Previous) {
		add("/previous", "%q is not a release's target path", r.Previous)
	}
	if r.Previous != "" && r.Previous == r.Release {
		add("/previous", "%q is the release itself", r.Previous)
	}
	s := r.Selection
	if len(s.RigType) > cloudapi.MaxNameLen {
		add("/selection/rig_type", "is %d bytes long, more than %d", len(s.RigType), cloudapi.MaxNameLen)
	}
	if len(s.Sites) > cloudapi.MaxListLen || len(s.Rigs) > cloudapi.MaxListLen {
		add("/selection", "more than %d sites or rigs", cloudapi.MaxListLen)
	}
	for i, v := range s.Sites {
		if v == "" || len(v) > cloudapi.MaxNameLen {
			add("/selection/sites/"+strconv.Itoa(i), "%q is not a site name (1-%d bytes)", v, cloudapi.MaxNameLen)
		}
	}
	for i, v := range s.Rigs {
		if !cloudapi.ValidID(v) {
			add("/selection/rigs/"+strconv.Itoa(i), "%q is not a rig id", v)
		}
	}
	if err := ValidateLabels(s.Labels); err != "" {
		add("/selection/labels", "%s", err)
	}
	if len(r.Cohorts) > MaxCohorts {
		add("/cohorts", "%d cohorts, more than %d", len(r.Cohorts), MaxCohorts)
	}
	lastPct, lastAgents := 0.0, 0
	for i, c := range r.Cohorts {
		ptr := "/cohorts/" + strconv.Itoa(i)
		switch {
		case (c.Agents != 0) == (c.Percent != 0):
			add(ptr, "set exactly one of agents and percent")
		case c.Agents < 0:
			add(ptr+"/agents", "%d is negative", c.Agents)
		case c.Agents > 0 && (lastPct > 0 || c.Agents <= lastAgents):
			add(ptr+"/agents", "%d does not grow the cohorts before it (counts come before percentages, increasing)", c.Agents)
		case c.Percent != 0 && (!(c.Percent > lastPct) || c.Percent > 100 || math.IsNaN(c.Percent)):
			add(ptr+"/percent", "%v is not in (%v, 100]", c.Percent, lastPct)
		}
		if c.Agents > 0 {
			lastAgents = c.Agents
		}
		if c.Percent > 0 {
			lastPct = c.Percent
		}
		if msg := soakProblem(c.SoakS); msg != "" {
			add(ptr+"/soak_s", "%s", msg)
		}
	}
	if len(r.Cohorts) > 0 && r.Cohorts[len(r.Cohorts)-1].Percent != 100 {
		add("/cohorts", "the last cohort must be percent 100, so every selected agent is offered the release")
	}
	if msg := soakProblem(r.SoakS); msg != "" {
		add("/soak_s", "%s", msg)
	}
	if msg := thresholdProblem(r.SuccessThreshold); msg != "" {
		add("/success_threshold", "%s", msg)
	}
	if msg := thresholdProblem(r.FailureThreshold); msg != "" {
		add("/failure_threshold", "%s", msg)
	}
	return invalid("rollout request", errs)
}

// soakProblem says what is wrong with a soak of v seconds ("": nothing):
// it must be in [0, MaxSoakS]. CreateRequest and EditRequest share it.
func soakProblem(v float64) string {
	if !(v >= 0 && v <= MaxSoakS) {
		return fmt.Sprintf("%v is not in [0, %v]", v, MaxSoakS)
	}
	return ""
}

// thresholdProblem says what is wrong with a success or failure
// threshold v ("": nothing): it must be in (0, 1]. CreateRequest and
// EditRequest share it.
func thresholdProblem(v float64) string {
	if !(v > 0 && v <= 1) {
		return fmt.Sprintf("%v is not in (0, 1]", v)
	}
	return ""
}

// invalid is nil without errs, else a 400 invalid-body Problem of what
// listing them.
func invalid(what string, errs []cloudapi.FieldProblem) error {
	if len(errs) == 0 {
		return nil
	}
	p := cloudapi.NewProblem(cloudapi.ProblemInvalidBody, 400, "%s has %d invalid field(s)", what, len(errs))
	p.Errors = errs
	return p
}

// EditRequest is the body of PATCH /v1/rollouts/{id}: new settings of a
// paused or halted rollout, applied when it is resumed. A nil field (or
// JSON null) keeps the setting; at least one must be set. The bounds are
// CreateRequest's, without its defaults (0 is no default here: a soak of
// 0 is no soak, a threshold of 0 is invalid).
type EditRequest struct {
	// SuccessThreshold replaces the rollout's success threshold, in (0, 1].
	SuccessThreshold *float64 `json:"success_threshold,omitempty"`
	// FailureThreshold replaces the rollout's failure threshold, in (0, 1].
	FailureThreshold *float64 `json:"failure_threshold,omitempty"`
	// SoakS replaces the soak, in seconds ([0, MaxSoakS]), of the current
	// cohort and of every later one (their own soak_s included); cohorts
	// already done keep theirs.
	SoakS *float64 `json:"soak_s,omitempty"`
}

// Validate checks r; the error is a *cloudapi.Problem (400, invalid-body)
// listing every invalid field.
func (r *EditRequest) Validate() error {
	var errs []cloudapi.FieldProblem
	add := func(ptr, msg string) { errs = append(errs, cloudapi.FieldProblem{Pointer: ptr, Detail: msg}) }
	if r.SuccessThreshold == nil && r.FailureThreshold == nil && r.SoakS == nil {
		add("", "nothing to change: set success_threshold, failure_threshold or soak_s")
	}
	if r.SuccessThreshold != nil {
		if msg := thresholdProblem(*r.SuccessThreshold); msg != "" {
			add("/success_threshold", msg)
		}
	}
	if r.FailureThreshold != nil {
		if msg := thresholdProblem(*r.FailureThreshold); msg != "" {
			add("/failure_threshold", msg)
		}
	}
	if r.SoakS != nil {
		if msg := soakProblem(*r.SoakS); msg != "" {
			add("/soak_s", msg)
		}
	}
	return invalid("rollout edit", errs)
}

// ValidateLabels checks a label set: at most MaxLabels, keys 1-64 of
// [A-Za-z0-9_.-] starting with a letter or digit, values at most
// cloudapi.MaxNameLen bytes. It returns "" or what is wrong.
func ValidateLabels(l map[string]string) string {
	if len(l) > MaxLabels {
		return "more than " + strconv.Itoa(MaxLabels) + " labels"
	}
	for k, v := range l {
		if !cloudapi.ValidID(k) {
			return "key " + strconv.Quote(k) + " is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit"
		}
		if len(v) > cloudapi.MaxNameLen {
			return "value of " + strconv.Quote(k) + " is longer than " + strconv.Itoa(cloudapi.MaxNameLen) + " bytes"
		}
	}
	return ""
}

// Release names a release of the repository.
type Release struct {
	// Target is its TUF target path.
	Target string `json:"target"`
	// Version is its version (from its release metadata).
	Version string `json:"version"`
	// BundleFormat is the manifest format (format_version) of its
	// bundle: a rollout offers it only to agents that read that format
	// (the others are AgentIncompatible).
	BundleFormat int `json:"bundle_format"`
	// ManifestDigest is its bundle's manifest digest (the signed
	// manifest_digest; "" for a rollout made before it was recorded): an
	// agent counts as committed when the model it serves has this digest
	// (check-in model.digest), not merely the same version.
	ManifestDigest string `json:"manifest_digest,omitempty"`
	// ConfigDigest is the firmware-config digest its bundle was made for
	// (the signed config_digest; "" for a rollout made before it was
	// recorded): a rollout offers it only to agents that report this
	// firmware digest at check-in, or none (an agent older than the
	// field); the others are AgentIncompatible.
	ConfigDigest string `json:"config_digest,omitempty"`
}

// Rollout is a rollout as the API answers it.
type Rollout struct {
	ID      int64   `json:"id"`
	Release Release `json:"release"`
	// Previous is what a rollback offers (nil: none; rollback refused).
	Previous *Release `json:"previous,omitempty"`
	// RigType is the release's rig type.
	RigType          string    `json:"rig_type"`
	Selection        Selection `json:"selection"`
	SuccessThreshold float64   `json:"success_threshold"`
	FailureThreshold float64   `json:"failure_threshold"`
	State            State     `json:"state"`
	// Reason says why the state last changed (halts name the cohort and
	// its failures).
	Reason string `json:"reason,omitempty"`
	// Cohort is the index of the current cohort (the last started).
	Cohort int `json:"cohort"`
	// Agents counts the selected agents; Counts them by state.
	Agents int                `json:"agents"`
	Counts map[AgentState]int `json:"counts"`
	// Cohorts are the rollout's cohorts in order.
	Cohorts []Cohort `json:"cohorts"`
	// AgentStates lists every selected agent (GET /v1/rollouts/{id}
	// only; absent in lists).
	AgentStates []Member  `json:"agent_states,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// Warnings are said once, in the answer of POST /v1/rollouts (not
	// stored): e.g. that the default previous release is a fallback that
	// no selected agent ran, so agents installed from model.bundle_dir
	// will refuse a rollback to it.
	Warnings []string `json:"warnings,omitempty"`
}

// List is the answer of GET /v1/rollouts.
type List struct {
	Items []Rollout `json:"items"`
	// NextCursor, when present, is the cursor of the next page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Cohort is one cohort of a Rollout.
type Cohort struct {
	Index int `json:"index"`
	// Size counts its agents (new in this cohort).
	Size  int         `json:"size"`
	SoakS float64     `json:"soak_s"`
	State CohortState `json:"state"`
	// StartedAt is when it was offered the release; DoneAt when it
	// succeeded or failed.
	StartedAt *time.Time `json:"started_at,omitempty"`
	DoneAt    *time.Time `json:"done_at,omitempty"`
	// Counts its agents by state.
	Counts map[AgentState]int `json:"counts"`
}

// Member is one selected agent of a Rollout.
type Member struct {
	AgentID string     `json:"agent_id"`
	RigID   string     `json:"rig_id"`
	Cohort  int        `json:"cohort"`
	State   AgentState `json:"state"`
	// Detail is the agent's last reported error, when it failed, or
	// why it is incompatible ("agent reads bundle formats 1..1, release
	// is format 2").
	Detail      string     `json:"detail,omitempty"`
	CommittedAt *time.Time `json:"committed_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
	// LastCheckinAt is the last check-in of the agent's current identity
	// (cloud clock; absent: it never checked in, also when a re-enrolled
	// agent's new process has not yet): an agent whose state does not move
	// and whose check-ins stopped is down, not slow.
	LastCheckinAt *time.Time `json:"last_checkin_at,omitempty"`
}

// LabelsRequest is the body of PUT /v1/rigs/{rig}/labels: the rig's whole
// label set (ValidateLabels), replacing the previous one.
type LabelsRequest struct {
	Labels map[string]string `json:"labels"`
}

// RigLabels answers PUT /v1/rigs/{rig}/labels.
type RigLabels struct {
	RigID  string            `json:"rig_id"`
	Labels map[string]string `json:"labels"`
}
