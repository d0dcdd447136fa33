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

// checker collects the FieldProblems of one value. The JSON pointer of a
// problem is built only when one is found (validation runs on every
// ingested item, nearly all valid): the base, then the keys and indexes
// entered with in and each, then the key passed to the check ("" for
// the value entered itself).
type checker struct {
	errs  []FieldProblem
	base  string
	path  [8]step
	depth int
}

// step is one entered level: an object key, or with index set an array
// index.
type step struct {
	key   string
	i     int
	index bool
}

func (c *checker) pointer(key string) string {
	var b strings.Builder
	b.WriteString(c.base)
	for _, s := range c.path[:c.depth] {
		b.WriteByte('/')
		if s.index {
			b.WriteString(strconv.Itoa(s.i))
		} else {
			b.WriteString(s.key)
		}
	}
	if key != "" {
		b.WriteByte('/')
		b.WriteString(key)
	}
	return b.String()
}

func (c *checker) add(key, format string, args ...any) {
	c.errs = append(c.errs, FieldProblem{Pointer: c.pointer(key), Detail: fmt.Sprintf(format, args...)})
}

func (c *checker) push(s step) {
	if c.depth == len(c.path) {
		panic("cloudapi: checker nested too deep")
	}
	c.path[c.depth] = s
	c.depth++
}

func (c *checker) pop() { c.depth-- }

// in runs f with key entered.
func (c *checker) in(key string, f func()) {
	c.push(step{key: key})
	f()
	c.pop()
}

// each checks that the list at key has at most MaxListLen entries, and
// then runs f for each of its n entries with key and the index entered.
func (c *checker) each(key string, n int, f func(i int)) {
	if !c.list(key, n) {
		return
	}
	c.push(step{key: key})
	for i := range n {
		c.push(step{i: i, index: true})
		f(i)
		c.pop()
	}
	c.pop()
}

func (c *checker) name(key, s string, required bool) {
	switch {
	case s == "" && required:
		c.add(key, "is required")
	case len(s) > MaxNameLen:
		c.add(key, "is %d bytes long, more than %d", len(s), MaxNameLen)
	case strings.IndexByte(s, 0) >= 0:
		c.add(key, "holds a NUL byte")
	}
}

func (c *checker) text(key, s string, required bool) {
	switch {
	case s == "" && required:
		c.add(key, "is required")
	case len(s) > MaxTextLen:
		c.add(key, "is %d bytes long, more than %d", len(s), MaxTextLen)
	case strings.IndexByte(s, 0) >= 0:
		c.add(key, "holds a NUL byte")
	}
}

func (c *checker) unit(key string, v float64) {
	if !(v >= 0 && v <= 1) {
		c.add(key, "%v is not in [0, 1]", v)
	}
}

func (c *checker) nonNeg(key string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		c.add(key, "%v is not a finite number >= 0", v)
	}
}

func (c *checker) finite(key string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		c.add(key, "%v is not a finite number", v)
	}
}

// InTimeRange reports whether t is a time the cloud accepts: from
// MinTime, before MaxTime (the rule of every time a diagnosis carries).
func InTimeRange(t time.Time) bool { return !t.Before(MinTime) && t.Before(MaxTime) }

func (c *checker) time(key string, t time.Time) {
	if !InTimeRange(t) {
		c.add(key, "%s is outside %d-%d", t.UTC().Format(time.RFC3339Nano), MinTime.Year(), MaxTime.Year()-1)
	}
}

func (c *checker) list(key string, n int) bool {
	if n > MaxListLen {
		c.add(key, "has %d entries, more than %d", n, MaxListLen)
		return false
	}
	return true
}

func (c *checker) status(key string, s diag.Status) {
	switch s {
	case diag.Healthy, diag.Warning, diag.Critical, diag.Unknown:
	default:
		c.add(key, "%q is not healthy, warning, critical or unknown", s)
	}
}

func (c *checker) severity(key string, s diag.Severity) {
	switch s {
	case diag.SeverityInfo, diag.SeverityLow, diag.SeverityMedium, diag.SeverityHigh, diag.SeverityCritical:
	default:
		c.add(key, "%q is not info, low, medium, high or critical", s)
	}
}

// ValidateDiagnosis checks one diagnosis for the cloud's store; ptr is
// the JSON pointer of the diagnosis in its request (e.g. "/diagnoses/3";
// "" for a diagnosis on its own). It returns every problem found, nil
// when valid. The agent runs it before queuing, the cloud on receipt.
func ValidateDiagnosis(ptr string, d *diag.Diagnosis) []FieldProblem {
	c := checker{base: ptr}
	c.name("rig_id", d.RigID, true)
	c.name("rig_type", d.RigType, true)
	if d.AgentID != "" && !ValidID(d.AgentID) {
		c.add("agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", d.AgentID)
	}
	if d.Seq == 0 {
		c.add("seq", "is 0; sequence numbers start at 1")
	}
	c.time("created_at", d.CreatedAt)
	c.in("window", func() {
		w := &d.Window
		c.time("start", w.Start)
		c.time("end", w.End)
		if w.End.Before(w.Start) {
			c.add("end", "%s is before window start %s", w.End.Format(time.RFC3339Nano), w.Start.Format(time.RFC3339Nano))
		}
		if w.Steps < 0 {
			c.add("steps", "%d is negative", w.Steps)
		}
		c.unit("coverage", w.Coverage)
		c.each("missing", len(w.Missing), func(i int) { c.name("", w.Missing[i], true) })
		c.each("stale", len(w.Stale), func(i int) { c.name("", w.Stale[i], true) })
	})
	c.in("model", func() {
		c.name("version", d.Model.Version, true)
		c.name("digest", d.Model.Digest, false)
		switch d.Model.Precision {
		case "", "fp32", "int8":
		default:
			c.add("precision", "%q is not fp32 or int8", d.Model.Precision)
		}
	})
	if d.InferenceMicros < 0 {
		c.add("inference_us", "%d is negative", d.InferenceMicros)
	}
	c.unit("health", d.Health)
	c.status("status", d.Status)
	c.each("components", len(d.Components), func(i int) {
		ch := &d.Components[i]
		c.name("id", ch.ID, true)
		c.unit("health", ch.Health)
		c.status("status", ch.Status)
		c.nonNeg("anomaly_score", ch.AnomalyScore)
		c.each("drivers", len(ch.Drivers), func(j int) {
			c.name("sensor", ch.Drivers[j].Sensor, true)
			c.finite("weight", ch.Drivers[j].Weight)
		})
	})
	c.each("targets", len(d.Targets), func(i int) {
		tr := &d.Targets[i]
		c.name("name", tr.Name, true)
		if len(tr.Classes) == 0 {
			c.add("classes", "is empty")
		}
		c.each("classes", len(tr.Classes), func(j int) {
			cl := &tr.Classes[j]
			c.finite("value", cl.Value)
			c.name("label", cl.Label, false)
			c.unit("p", cl.P)
		})
		if tr.Predicted < 0 || tr.Predicted >= max(len(tr.Classes), 1) {
			c.add("predicted", "%d is not an index into its %d classes", tr.Predicted, len(tr.Classes))
		}
	})
	c.each("sensors", len(d.Sensors), func(i int) {
		c.name("id", d.Sensors[i].ID, true)
		c.nonNeg("score", d.Sensors[i].Score)
	})
	c.each("anomalies", len(d.Anomalies), func(i int) {
		a := &d.Anomalies[i]
		// An empty fault is an unexplained anomaly (the anomaly head
		// flagged the data, neither a class head nor diag.NameAnomaly's
		// rules named a cause); it must then say where: at least one
		// component or sensor.
		c.name("fault", string(a.Fault), false)
		if a.Fault == "" && len(a.Components) == 0 && len(a.Sensors) == 0 {
			c.add("", "has no fault, components or sensors (an unexplained anomaly must name a component or a sensor)")
		}
		c.severity("severity", a.Severity)
		c.unit("confidence", a.Confidence)
		c.each("components", len(a.Components), func(j int) { c.name("", a.Components[j], true) })
		c.each("sensors", len(a.Sensors), func(j int) { c.name("", a.Sensors[j], true) })
	})
	if r := d.RUL; r != nil {
		c.in("rul", func() {
			c.name("component", r.Component, false)
			c.nonNeg("p10_hours", r.P10Hours)
			c.nonNeg("p50_hours", r.P50Hours)
			c.nonNeg("p90_hours", r.P90Hours)
		})
	}
	if len(d.Recommendations) > diag.MaxRecommendations {
		c.add("recommendations", "has %d entries, more than %d", len(d.Recommendations), diag.MaxRecommendations)
	} else {
		c.each("recommendations", len(d.Recommendations), func(i int) {
			r := &d.Recommendations[i]
			// No component: a rig-wide finding's (a target on no
			// component, e.g. fault unstable).
			c.name("component", r.Component, false)
			c.name("fault", string(r.Fault), false)
			c.text("action", r.Action, true)
			c.severity("priority", r.Priority)
			if r.DaysToFailure != nil {
				c.nonNeg("days_to_failure", *r.DaysToFailure)
			}
			c.text("reason", r.Reason, false)
		})
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
		c.add("agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.AgentID)
	}
	if r.RigID != "" && !ValidID(r.RigID) {
		c.add("rig_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.RigID)
	}
	return c.problem("enrollment request")
}

// ValidateCheckin checks a check-in request; the error is a *Problem
// (400, ProblemInvalidBody) listing every invalid field.
func ValidateCheckin(r *CheckinRequest) error {
	var c checker
	if !ValidID(r.AgentID) {
		c.add("agent_id", "%q is not 1-64 of [A-Za-z0-9_.-] starting with a letter or digit", r.AgentID)
	}
	c.name("rig_id", r.RigID, true)
	c.name("rig_type", r.RigType, true)
	c.name("agent_version", r.AgentVersion, false)
	c.time("time", r.Time)
	if m := r.Model; m != nil {
		c.name("model/version", m.Version, true)
		c.name("model/digest", m.Digest, false)
		c.name("model/precision", m.Precision, false)
	}
	o := r.Outbox
	if o.Items < 0 || o.Alerts < 0 || o.Alerts > o.Items || o.Bytes < 0 {
		c.add("outbox", "items %d, alerts %d, bytes %d: counts must be >= 0 and alerts <= items", o.Items, o.Alerts, o.Bytes)
	}
	if b := r.Buffer; b != nil && (b.Records < 0 || b.Bytes < 0) {
		c.add("buffer", "records %d, bytes %d: counts must be >= 0", b.Records, b.Bytes)
	}
	c.each("uploads", len(r.Uploads), func(i int) {
		u := &r.Uploads[i]
		if !ValidID(u.RequestID) {
			c.add("request_id", "%q is not a valid id", u.RequestID)
		}
		if u.ReadingsSent < 0 {
			c.add("readings_sent", "%d is negative", u.ReadingsSent)
		}
	})
	if u := r.Update; u != nil {
		c.name("update/state", u.State, true)
		c.name("update/installed", u.Installed, true)
		c.name("update/previous", u.Previous, false)
		c.text("update/target", u.Target, false)
		c.name("update/target_version", u.TargetVersion, false)
		if u.Attempts < 0 {
			c.add("update/attempts", "%d is negative", u.Attempts)
		}
		if u.Rollbacks < 0 {
			c.add("update/rollbacks", "%d is negative", u.Rollbacks)
		}
		if u.Rollout < 0 {
			c.add("update/rollout", "%d is negative", u.Rollout)
		}
		c.text("update/last_error", u.LastError, false)
		if u.WatchUntil != nil {
			c.time("update/watch_until", *u.WatchUntil)
		}
		c.time("update/changed", u.Changed)
	}
	if f := r.BundleFormats; f != nil && (f.Min < 1 || f.Max < f.Min || f.Max > MaxBundleFormat) {
		c.add(FieldBundleFormats, "min %d, max %d: formats must satisfy 1 <= min <= max <= %d", f.Min, f.Max, MaxBundleFormat)
	}
	if r.FirmwareDigest != "" && !ValidDigest(r.FirmwareDigest) {
		c.add(FieldFirmwareDigest, "%q is not sha256:<64 lowercase hex> (the firmware config's digest)", ClipText(r.FirmwareDigest, 80))
	}
	return c.problem("check-in request")
}

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// DigestLen is the length of a digest ValidDigest accepts.
const DigestLen = len("sha256:") + 64

// ValidDigest reports whether s is a digest as the firmware config's
// (shared/rig Config.Digest) and a bundle's config_digest are written:
// "sha256:" and 64 lowercase hex digits.
func ValidDigest(s string) bool { return len(s) == DigestLen && digestPattern.MatchString(s) }

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
		c.add("offer/target", "%q is not 1-%d segments of [A-Za-z0-9._+-] not starting with a dot", o.Target, MaxTargetSegments)
	}
	c.name("offer/version", o.Version, true)
	if o.Rollout < 0 {
		c.add("offer/rollout", "%d is negative", o.Rollout)
	}
	return c.problem("offer")
}

// ValidateUploadRequest checks one request of a check-in response; the
// agent ignores (and logs) requests that fail it.
func ValidateUploadRequest(r *UploadRequest) error {
	var c checker
	if !ValidID(r.ID) {
		c.add("id", "%q is not a valid id", r.ID)
	}
	if r.Kind != UploadReadings {
		c.add("kind", "%q is not %q", r.Kind, UploadReadings)
	}
	c.time("from", r.From)
	c.time("to", r.To)
	if !r.To.After(r.From) {
		c.add("to", "%s is not after from %s", r.To.Format(time.RFC3339Nano), r.From.Format(time.RFC3339Nano))
	}
	c.each("sensors", len(r.Sensors), func(i int) { c.name("", r.Sensors[i], true) })
	if r.MaxBytes < 0 {
		c.add("max_bytes", "%d is negative", r.MaxBytes)
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
		c.add("agent_id", "%q is not a valid id", u.AgentID)
	}
	if !ValidID(u.RequestID) {
		c.add("request_id", "%q is not a valid id", u.RequestID)
	}
	if u.Part > math.MaxInt32 {
		c.add("part", "%d is more than %d", u.Part, math.MaxInt32)
	}
	c.push(step{key: "readings"})
	for i := range u.Readings {
		if len(c.errs) >= 100 {
			break
		}
		c.push(step{i: i, index: true})
		validateReading(&c, &u.Readings[i])
		c.pop()
	}
	c.pop()
	return c.problem("upload")
}

// validateReading checks the reading entered in c.
func validateReading(c *checker, r *reading.Reading) {
	c.name("sensor", r.Sensor, true)
	c.time("ts", r.Time)
	c.finite("v", r.Value)
	if r.Quality > reading.Bad {
		c.add("q", "%d is not 0 (good), 1 (uncertain) or 2 (bad)", r.Quality)
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
