package cloudapi

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidID reports whether s is a valid agent or upload request id: 1-64
// characters from [A-Za-z0-9_.-], starting with a letter or digit (the
// agent config's rule for agent.id).
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Bounds on free-form fields, so that one item cannot hold megabytes of
// text.
const (
	// MaxNameLen bounds ids and names (rig, component, sensor, target).
	MaxNameLen = 255
	// MaxTextLen bounds free text (recommendation actions and reasons).
	MaxTextLen = 4096
	// MaxListLen bounds every list inside a diagnosis.
	MaxListLen = 4096
)

// Times before MinTime or after MaxTime are refused (zero or garbage
// clocks).
var (
	MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

type checker struct{ errs []FieldProblem }

func (c *checker) add(ptr, format string, args ...any) {
	c.errs = append(c.errs, FieldProblem{Pointer: ptr, Detail: fmt.Sprintf(format, args...)})
}

func (c *checker) name(ptr, s string, required bool) {
	switch {
	case s == "" && required:
		c.add(ptr, "is required")
	case len(s) > MaxNameLen:
		c.add(ptr, "is %d bytes long, more than %d", len(s), MaxNameLen)
	}
}

func (c *checker) text(ptr, s string, required bool) {
	switch {
	case s == "" && required:
		c.add(ptr, "is required")
	case len(s) > MaxTextLen:
		c.add(ptr, "is %d bytes long, more than %d", len(s), MaxTextLen)
	}
}

func (c *checker) unit(ptr string, v float64) {
	if !(v >= 0 && v <= 1) {
		c.add(ptr, "%v is not in [0, 1]", v)
	}
}

func (c *checker) nonNeg(ptr string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		c.add(ptr, "%v is not a finite number >= 0", v)
	}
}

func (c *checker) finite(ptr string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		c.add(ptr, "%v is not a finite number", v)
	}
}

func (c *checker) time(ptr string, t time.Time) {
	if t.Before(MinTime) || !t.Before(MaxTime) {
		c.add(ptr, "%s is outside %d-%d", t.UTC().Format(time.RFC3339Nano), MinTime.Year(), MaxTime.Year()-1)
	}
}

func (c *checker) list(ptr string, n int) bool {
	if n > MaxListLen {
		c.add(ptr, "has %d entries, more than %d", n, MaxListLen)
		return false
	}
	return true
}

func (c *checker) status(ptr string, s diag.Status) {
	switch s {
	case diag.Healthy, diag.Warning, diag.Critical, diag.Unknown:
	default:
		c.add(ptr, "%q is not healthy, warning, critical or unknown", s)
	}
}

func (c *checker) severity(ptr string, s diag.Severity) {
	switch s {
	case diag.SeverityInfo, diag.SeverityLow, diag.SeverityMedium, diag.SeverityHigh, diag.SeverityCritical:
	default:
		c.add(ptr, "%q is not info, low, medium, high or critical", s)
	}
}

func idx(ptr string, i int) string { return ptr + "/" + strconv.Itoa(i) }

// ValidateDiagnosis checks one diagnosis for the cloud's store; ptr is
// the JSON pointer of the diagnosis in its request (e.g. "/diagnoses/3";
// "" for a diagnosis on its own). It returns every problem found, nil
// when valid. The agent runs it before queuing, the cloud on receipt.
func ValidateDiagnosis(ptr string, d *diag.Diagnosis) []FieldProblem {
	var c checker
	c.name(ptr+"/rig_id", d.RigID, true)
	c.name(ptr+"/rig_type", d.RigType, true)
	if d.AgentID != "" && !ValidID(d.AgentID) {
		c.add(ptr+"/agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", d.AgentID)
	}
	if d.Seq == 0 {
		c.add(ptr+"/seq", "is 0; sequence numbers start at 1")
	}
	c.time(ptr+"/created_at", d.CreatedAt)
	w := d.Window
	c.time(ptr+"/window/start", w.Start)
	c.time(ptr+"/window/end", w.End)
	if w.End.Before(w.Start) {
		c.add(ptr+"/window/end", "%s is before window start %s", w.End.Format(time.RFC3339Nano), w.Start.Format(time.RFC3339Nano))
	}
	if w.Steps < 0 {
		c.add(ptr+"/window/steps", "%d is negative", w.Steps)
	}
	c.unit(ptr+"/window/coverage", w.Coverage)
	if c.list(ptr+"/window/missing", len(w.Missing)) {
		for i, s := range w.Missing {
			c.name(idx(ptr+"/window/missing", i), s, true)
		}
	}
	if c.list(ptr+"/window/stale", len(w.Stale)) {
		for i, s := range w.Stale {
			c.name(idx(ptr+"/window/stale", i), s, true)
		}
	}
	c.name(ptr+"/model/version", d.Model.Version, true)
	c.name(ptr+"/model/digest", d.Model.Digest, false)
	switch d.Model.Precision {
	case "", "fp32", "int8":
	default:
		c.add(ptr+"/model/precision", "%q is not fp32 or int8", d.Model.Precision)
	}
	if d.InferenceMicros < 0 {
		c.add(ptr+"/inference_us", "%d is negative", d.InferenceMicros)
	}
	c.unit(ptr+"/health", d.Health)
	c.status(ptr+"/status", d.Status)
	if c.list(ptr+"/components", len(d.Components)) {
		for i := range d.Components {
			p, ch := idx(ptr+"/components", i), &d.Components[i]
			c.name(p+"/id", ch.ID, true)
			c.unit(p+"/health", ch.Health)
			c.status(p+"/status", ch.Status)
			c.nonNeg(p+"/anomaly_score", ch.AnomalyScore)
			if c.list(p+"/drivers", len(ch.Drivers)) {
				for j, dr := range ch.Drivers {
					c.name(idx(p+"/drivers", j)+"/sensor", dr.Sensor, true)
					c.finite(idx(p+"/drivers", j)+"/weight", dr.Weight)
				}
			}
		}
	}
	if c.list(ptr+"/targets", len(d.Targets)) {
		for i := range d.Targets {
			p, tr := idx(ptr+"/targets", i), &d.Targets[i]
			c.name(p+"/name", tr.Name, true)
			if len(tr.Classes) == 0 {
				c.add(p+"/classes", "is empty")
			}
			if c.list(p+"/classes", len(tr.Classes)) {
				for j, cl := range tr.Classes {
					c.finite(idx(p+"/classes", j)+"/value", cl.Value)
					c.name(idx(p+"/classes", j)+"/label", cl.Label, false)
					c.unit(idx(p+"/classes", j)+"/p", cl.P)
				}
			}
			if tr.Predicted < 0 || tr.Predicted >= max(len(tr.Classes), 1) {
				c.add(p+"/predicted", "%d is not an index into its %d classes", tr.Predicted, len(tr.Classes))
			}
		}
	}
	if c.list(ptr+"/sensors", len(d.Sensors)) {
		for i, s := range d.Sensors {
			c.name(idx(ptr+"/sensors", i)+"/id", s.ID, true)
			c.nonNeg(idx(ptr+"/sensors", i)+"/score", s.Score)
		}
	}
	if c.list(ptr+"/anomalies", len(d.Anomalies)) {
		for i := range d.Anomalies {
			p, a := idx(ptr+"/anomalies", i), &d.Anomalies[i]
			// An empty fault is an unexplained anomaly (the anomaly head
			// flagged the data, no class head named a cause); it must then
			// say where: at least one component or sensor.
			c.name(p+"/fault", string(a.Fault), false)
			if a.Fault == "" && len(a.Components) == 0 && len(a.Sensors) == 0 {
				c.add(p, "has no fault, components or sensors (an unexplained anomaly must name a component or a sensor)")
			}
			c.severity(p+"/severity", a.Severity)
			c.unit(p+"/confidence", a.Confidence)
			if c.list(p+"/components", len(a.Components)) {
				for j, s := range a.Components {
					c.name(idx(p+"/components", j), s, true)
				}
			}
			if c.list(p+"/sensors", len(a.Sensors)) {
				for j, s := range a.Sensors {
					c.name(idx(p+"/sensors", j), s, true)
				}
			}
		}
	}
	if r := d.RUL; r != nil {
		c.name(ptr+"/rul/component", r.Component, false)
		c.nonNeg(ptr+"/rul/p10_hours", r.P10Hours)
		c.nonNeg(ptr+"/rul/p50_hours", r.P50Hours)
		c.nonNeg(ptr+"/rul/p90_hours", r.P90Hours)
	}
	if len(d.Recommendations) > diag.MaxRecommendations {
		c.add(ptr+"/recommendations", "has %d entries, more than %d", len(d.Recommendations), diag.MaxRecommendations)
	} else {
		for i := range d.Recommendations {
			p, r := idx(ptr+"/recommendations", i), &d.Recommendations[i]
			// No component: a rig-wide finding's (a target on no
			// component, e.g. fault unstable).
			c.name(p+"/component", r.Component, false)
			c.name(p+"/fault", string(r.Fault), false)
			c.text(p+"/action", r.Action, true)
			c.severity(p+"/priority", r.Priority)
			if r.DaysToFailure != nil {
				c.nonNeg(p+"/days_to_failure", *r.DaysToFailure)
			}
			c.text(p+"/reason", r.Reason, false)
		}
	}
	return c.errs
}

// IsAlert reports whether a diagnosis is an alert, sent before every other
// diagnosis: its status is not healthy, or it has an anomaly or a
// recommendation of high or critical severity. The status unknown of a
// diagnosis made while the detector calibrates (Calibrating) is not an
// alert: nothing was judged yet.
func IsAlert(d *diag.Diagnosis) bool {
	if d.Status != diag.Healthy && (d.Status != diag.Unknown || !d.Calibrating) {
		return true
	}
	for _, a := range d.Anomalies {
		if a.Severity == diag.SeverityHigh || a.Severity == diag.SeverityCritical {
			return true
		}
	}
	for _, r := range d.Recommendations {
		if r.Priority == diag.SeverityHigh || r.Priority == diag.SeverityCritical {
			return true
		}
	}
	return false
}

// ValidateEnroll checks an enrollment request; the error is a *Problem
// (400, ProblemInvalidBody) listing every invalid field.
func ValidateEnroll(r *EnrollRequest) error {
	var c checker
	if !ValidID(r.AgentID) {
		c.add("/agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.AgentID)
	}
	if r.RigID != "" && !ValidID(r.RigID) {
		c.add("/rig_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.RigID)
	}
	return c.problem("enrollment request")
}

// ValidateCheckin checks a check-in request; the error is a *Problem
// (400, ProblemInvalidBody) listing every invalid field.
func ValidateCheckin(r *CheckinRequest) error {
	var c checker
	if !ValidID(r.AgentID) {
		c.add("/agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.AgentID)
	}
	c.name("/rig_id", r.RigID, true)
	c.name("/rig_type", r.RigType, true)
	c.name("/agent_version", r.AgentVersion, false)
	c.time("/time", r.Time)
	if m := r.Model; m != nil {
		c.name("/model/version", m.Version, true)
		c.name("/model/digest", m.Digest, false)
		c.name("/model/precision", m.Precision, false)
	}
	o := r.Outbox
	if o.Items < 0 || o.Alerts < 0 || o.Alerts > o.Items || o.Bytes < 0 {
		c.add("/outbox", "items %d, alerts %d, bytes %d: counts must be >= 0 and alerts <= items", o.Items, o.Alerts, o.Bytes)
	}
	if b := r.Buffer; b != nil && (b.Records < 0 || b.Bytes < 0) {
		c.add("/buffer", "records %d, bytes %d: counts must be >= 0", b.Records, b.Bytes)
	}
	if c.list("/uploads", len(r.Uploads)) {
		for i, u := range r.Uploads {
			if !ValidID(u.RequestID) {
				c.add(idx("/uploads", i)+"/request_id", "%q is not a valid id", u.RequestID)
			}
			if u.ReadingsSent < 0 {
				c.add(idx("/uploads", i)+"/readings_sent", "%d is negative", u.ReadingsSent)
			}
		}
	}
	if u := r.Update; u != nil {
		c.name("/update/state", u.State, true)
		c.name("/update/installed", u.Installed, true)
		c.name("/update/previous", u.Previous, false)
		c.text("/update/target", u.Target, false)
		c.name("/update/target_version", u.TargetVersion, false)
		if u.Attempts < 0 {
			c.add("/update/attempts", "%d is negative", u.Attempts)
		}
		if u.Rollbacks < 0 {
			c.add("/update/rollbacks", "%d is negative", u.Rollbacks)
		}
		if u.Rollout < 0 {
			c.add("/update/rollout", "%d is negative", u.Rollout)
		}
		c.text("/update/last_error", u.LastError, false)
		if u.WatchUntil != nil {
			c.time("/update/watch_until", *u.WatchUntil)
		}
		c.time("/update/changed", u.Changed)
	}
	return c.problem("check-in request")
}

// MaxTargetSegments bounds the segments of an Offer's target path.
const MaxTargetSegments = 8

var targetSegment = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,254}$`)

// ValidTarget reports whether p is a TUF target path a rollout may offer:
// 1 to MaxTargetSegments slash-separated segments of letters, digits and
// ._+- not starting with a dot (so no "..", no empty segment, no hidden
// file), at most MaxTextLen bytes.
func ValidTarget(p string) bool {
	if p == "" || len(p) > MaxTextLen {
		return false
	}
	segs := strings.Split(p, "/")
	if len(segs) > MaxTargetSegments {
		return false
	}
	for _, s := range segs {
		if !targetSegment.MatchString(s) {
			return false
		}
	}
	return true
}

// ValidateOffer checks an offer of a check-in response; the error is a
// *Problem (400, ProblemInvalidBody) listing every invalid field.
func ValidateOffer(o *Offer) error {
	var c checker
	if !ValidTarget(o.Target) {
		c.add("/offer/target", "%q is not 1-%d segments of [A-Za-z0-9._+-] not starting with a dot", o.Target, MaxTargetSegments)
	}
	c.name("/offer/version", o.Version, true)
	if o.Rollout < 0 {
		c.add("/offer/rollout", "%d is negative", o.Rollout)
	}
	return c.problem("offer")
}

// ValidateUploadRequest checks one request of a check-in response; the
// agent ignores (and logs) requests that fail it.
func ValidateUploadRequest(r *UploadRequest) error {
	var c checker
	if !ValidID(r.ID) {
		c.add("/id", "%q is not a valid id", r.ID)
	}
	if r.Kind != UploadReadings {
		c.add("/kind", "%q is not %q", r.Kind, UploadReadings)
	}
	c.time("/from", r.From)
	c.time("/to", r.To)
	if !r.To.After(r.From) {
		c.add("/to", "%s is not after from %s", r.To.Format(time.RFC3339Nano), r.From.Format(time.RFC3339Nano))
	}
	if c.list("/sensors", len(r.Sensors)) {
		for i, s := range r.Sensors {
			c.name(idx("/sensors", i), s, true)
		}
	}
	if r.MaxBytes < 0 {
		c.add("/max_bytes", "%d is negative", r.MaxBytes)
	}
	return c.problem("upload request")
}

// ValidateUpload checks an upload part against the server's limits; the
// error is a *Problem (400 or 413).
func ValidateUpload(u *Upload, l Limits) error {
	l = l.WithDefaults()
	if len(u.Readings) > l.MaxUploadReadings {
		return NewProblem(ProblemTooLarge, 413, "%d readings in one part, more than %d", len(u.Readings), l.MaxUploadReadings)
	}
	var c checker
	if !ValidID(u.AgentID) {
		c.add("/agent_id", "%q is not a valid id", u.AgentID)
	}
	if !ValidID(u.RequestID) {
		c.add("/request_id", "%q is not a valid id", u.RequestID)
	}
	for i := range u.Readings {
		if len(c.errs) >= 100 {
			break
		}
		validateReading(&c, idx("/readings", i), &u.Readings[i])
	}
	return c.problem("upload")
}

func validateReading(c *checker, p string, r *reading.Reading) {
	c.name(p+"/sensor", r.Sensor, true)
	c.time(p+"/ts", r.Time)
	c.finite(p+"/v", r.Value)
	if r.Quality > reading.Bad {
		c.add(p+"/q", "%d is not 0 (good), 1 (uncertain) or 2 (bad)", r.Quality)
	}
}

func (c *checker) problem(what string) error {
	if len(c.errs) == 0 {
		return nil
	}
	p := NewProblem(ProblemInvalidBody, 400, "%s has %d invalid field(s)", what, len(c.errs))
	p.Errors = c.errs
	return p
}
