package trend

import (
	"slices"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Defaults of Options.
const (
	DefaultMaxPoints     = 256
	DefaultMaxComponents = 256
)

// Options configure a Tracker. Zero values mean the stated defaults.
type Options struct {
	// Estimate configures the fit (window, fewest points, shortest span,
	// horizon, threshold); zero: diag's defaults.
	Estimate diag.TrendOptions
	// MaxPoints caps the points kept per component (0:
	// DefaultMaxPoints): readings of a bucket Estimate.Window/MaxPoints
	// long are averaged into one point, and points older than the window
	// are dropped.
	MaxPoints int
	// MaxComponents caps the components tracked (0:
	// DefaultMaxComponents); health of further components is not kept.
	MaxComponents int
	// RigID and RigType, when set, are the rig whose diagnoses are
	// recorded: Observe (and so the agent's seeding from a history that
	// may still hold another rig's diagnoses) skips the others.
	RigID, RigType string
	// Components, when not empty, are the component ids recorded: Observe
	// skips the health of others (a component the rig no longer has, in
	// its older diagnoses) and Restore drops them from a State.
	Components []string
}

// OptionsFor returns the Options the edge agent tracks the rig of
// firmware config cfg with: its equipment id, rig type and component ids
// (config order), the fit and bounds at their defaults. A nil cfg gives
// the zero Options (every rig and component recorded). It is the one
// definition: the agent's service and `rigctl diagnose` both build their
// Tracker with it.
func OptionsFor(cfg *rig.Config) Options {
	if cfg == nil {
		return Options{}
	}
	ids := make([]string, len(cfg.Components))
	for i, c := range cfg.Components {
		ids[i] = c.ID
	}
	return Options{RigID: cfg.Equipment.ID, RigType: cfg.RigType, Components: ids}
}

// Tracker keeps each component's recent health and estimates its
// remaining useful life. Build it with New.
type Tracker struct {
	o       Options
	spacing time.Duration

	mu    sync.Mutex
	comps map[string]*series
}

// series is one component's points, oldest first; the last point is the
// running mean of the bucket that began at bucketStart.
type series struct {
	pts         []diag.HealthPoint
	lastRaw     time.Time
	bucketStart time.Time
	bucketN     int
	sumOff      float64 // seconds after bucketStart
	sumH        float64
}

// New returns an empty Tracker.
func New(o Options) *Tracker {
	if o.MaxPoints <= 0 {
		o.MaxPoints = DefaultMaxPoints
	}
	if o.MaxComponents <= 0 {
		o.MaxComponents = DefaultMaxComponents
	}
	w := o.Estimate.Window
	if w <= 0 {
		w = diag.DefaultTrendWindow
	}
	return &Tracker{o: o, spacing: w / time.Duration(o.MaxPoints), comps: map[string]*series{}}
}

// PointTime is the time a diagnosis' health is about, the time Observe
// records it at: its window's end (its start, or when it was made, for a
// diagnosis without one). d must not be nil.
func PointTime(d *diag.Diagnosis) time.Time {
	switch {
	case !d.Window.End.IsZero():
		return d.Window.End
	case !d.Window.Start.IsZero():
		return d.Window.Start
	}
	return d.CreatedAt
}

// Observe records d's component health. A calibrating diagnosis, one of
// another rig than Options.RigID and RigType, a component not in
// Options.Components (when set) or whose status is unknown, and a point
// not later than the component's newest (a window diagnosed again, out of
// order) are not recorded. It reports whether d was looked at: a
// diagnosis of the tracker's rig, not calibrating, with a time
// (PointTime).
func (t *Tracker) Observe(d *diag.Diagnosis) bool {
	if d == nil || d.Calibrating || !t.ofRig(d.RigID, d.RigType) {
		return false
	}
	at := PointTime(d)
	if at.IsZero() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range d.Components {
		c := &d.Components[i]
		if !diag.Judged(*c) || !t.tracks(c.ID) {
			continue
		}
		s := t.comps[c.ID]
		if s == nil {
			if len(t.comps) >= t.o.MaxComponents {
				continue
			}
			s = &series{}
			t.comps[c.ID] = s
		}
		t.add(s, at, c.Health)
	}
	return true
}

// ofRig reports whether a diagnosis of rig id and rigType is recorded
// (Options.RigID and RigType; empty: any).
func (t *Tracker) ofRig(id, rigType string) bool {
	return (t.o.RigID == "" || id == t.o.RigID) && (t.o.RigType == "" || rigType == t.o.RigType)
}

// tracks reports whether component id's health is recorded
// (Options.Components; empty: any).
func (t *Tracker) tracks(id string) bool {
	return len(t.o.Components) == 0 || slices.Contains(t.o.Components, id)
}

func (t *Tracker) add(s *series, at time.Time, h float64) {
	if !at.After(s.lastRaw) {
		return
	}
	s.lastRaw = at
	if s.bucketN > 0 && at.Sub(s.bucketStart) < t.spacing {
		s.bucketN++
		s.sumOff += at.Sub(s.bucketStart).Seconds()
		s.sumH += h
		n := float64(s.bucketN)
		s.pts[len(s.pts)-1] = diag.HealthPoint{
			Time:   s.bucketStart.Add(time.Duration(s.sumOff / n * float64(time.Second))),
			Health: s.sumH / n,
		}
		return
	}
	s.bucketStart, s.bucketN, s.sumOff, s.sumH = at, 1, 0, h
	s.pts = append(s.pts, diag.HealthPoint{Time: at, Health: h})
	w := t.o.Estimate.Window
	if w <= 0 {
		w = diag.DefaultTrendWindow
	}
	from := at.Add(-w)
	drop := 0
	for drop < len(s.pts) && s.pts[drop].Time.Before(from) {
		drop++
	}
	drop = max(drop, len(s.pts)-t.o.MaxPoints)
	if drop > 0 {
		s.pts = append(s.pts[:0], s.pts[drop:]...)
	}
}

// Trend returns the line fitted through component id's health recorded
// so far (diag.FitTrend on the points Estimate projects, with
// Options.Estimate): its Rate is the component's degradation rate, in
// health per hour (negative: declining). ok is false with too little
// history: fewer points than the fit needs, or too short a span. A Trend
// may exist without an Estimate (a flat, improving or noisy health).
func (t *Tracker) Trend(id string) (tr diag.Trend, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.comps[id]
	if s == nil {
		return diag.Trend{}, false
	}
	return diag.FitTrend(s.pts, t.o.Estimate)
}

// Estimate returns component id's remaining useful life from the health
// recorded so far (diag.EstimateRUL, Component set), counted from the
// newest window recorded, or nil.
func (t *Tracker) Estimate(id string) *diag.RUL {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.comps[id]
	if s == nil {
		return nil
	}
	r := diag.EstimateRUL(s.pts, t.o.Estimate)
	if r == nil {
		return nil
	}
	// The projection starts at the newest point, the mean of its bucket:
	// the time since then, to the newest window, is gone already.
	gone := s.lastRaw.Sub(s.pts[len(s.pts)-1].Time).Hours()
	r.P10Hours, r.P50Hours, r.P90Hours = max(0, r.P10Hours-gone), max(0, r.P50Hours-gone), max(0, r.P90Hours-gone)
	r.Component = id
	return r
}

// Annotate records d (Observe), then, when d has no RUL (the model's RUL
// head wins): for each component judged in d with an estimate, sets
// DaysToFailure (that estimate's P50 in days) on d's recommendations for
// that component that have none, and sets d.RUL to the estimate with the
// shortest P50. A diagnosis whose RUL came from the model gets no days
// from the trend: a recommendation's days_to_failure is always the P50
// of an estimate for its own component from the same source as d.RUL
// (the model's head sets days only for the component it names), never a
// trend's beside a model's.
func (t *Tracker) Annotate(d *diag.Diagnosis) {
	if d == nil {
		return
	}
	t.Observe(d)
	if d.Calibrating || d.RUL != nil {
		return
	}
	var best *diag.RUL
	for i := range d.Components {
		c := &d.Components[i]
		if !diag.Judged(*c) {
			continue
		}
		r := t.Estimate(c.ID)
		if r == nil {
			continue
		}
		if best == nil || r.P50Hours < best.P50Hours {
			best = r
		}
		for j := range d.Recommendations {
			rec := &d.Recommendations[j]
			if rec.Component == c.ID && rec.DaysToFailure == nil {
				days := r.P50Hours / 24
				rec.DaysToFailure = &days
			}
		}
	}
	d.RUL = best
}
