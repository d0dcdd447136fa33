package prep

import (
	"fmt"
	"iter"
	"math"
	"time"
)

// Schedule says where a spec's windows start: at Anchor + k×Period for
// every integer k, each window lasting Length. Build it with Windows.
// A Schedule is plain data.
type Schedule struct {
	// Anchor is a time at which a window starts. For cycle alignment set
	// it to a known cycle start of the rig (e.g. the gateway's cycle
	// marker); the zero time means the Unix epoch (UTC), which for sliding
	// windows puts starts on whole multiples of the period since 1970.
	Anchor time.Time
	// Period is the distance between window starts: the cycle for cycle
	// alignment, StrideSteps cells for sliding alignment (rounded to the
	// nanosecond).
	Period time.Duration
	// Length is the window length, Spec.Duration().
	Length time.Duration
}

// Windows returns the window schedule of spec. cycleS is the rig's cycle
// (rig.Operation.CycleS) and is used only for cycle alignment, where it
// must be positive and at least the window length. The Anchor is zero.
func Windows(spec Spec, cycleS float64) (Schedule, error) {
	if err := spec.Validate(); err != nil {
		return Schedule{}, err
	}
	sc := Schedule{Length: spec.Duration()}
	switch spec.Alignment {
	case AlignCycle:
		if !(cycleS > 0) || math.IsInf(cycleS, 0) || cycleS > 1e9 {
			return Schedule{}, fmt.Errorf("%w: cycle alignment needs the rig's cycle_s in (0, 1e9], got %v", ErrInvalidSpec, cycleS)
		}
		sc.Period = time.Duration(math.Round(cycleS * 1e9))
		if sc.Length > sc.Period {
			return Schedule{}, fmt.Errorf("%w: window of %v (%d steps at %v Hz) is longer than the rig's %v s cycle",
				ErrInvalidSpec, sc.Length, spec.Steps, spec.GridHz, cycleS)
		}
	case AlignSliding:
		sc.Period = spec.CellStart(spec.StrideSteps)
	}
	if sc.Period <= 0 {
		return Schedule{}, fmt.Errorf("%w: window period %v is not positive", ErrInvalidSpec, sc.Period)
	}
	return sc, nil
}

func (sc Schedule) anchor() time.Time {
	if sc.Anchor.IsZero() {
		return time.Unix(0, 0).UTC()
	}
	return sc.Anchor
}

// Next returns the earliest window start at or after t.
func (sc Schedule) Next(t time.Time) time.Time {
	a := sc.anchor()
	d, p := t.Sub(a), sc.Period
	k := d / p
	if d%p != 0 && d > 0 {
		k++
	}
	return a.Add(k * p)
}

// Latest returns the start of the latest window that is complete at t
// (start + Length <= t). It reports false when t is so far from the
// Anchor (about 292 years) that the offset cannot be represented.
func (sc Schedule) Latest(t time.Time) (time.Time, bool) {
	a := sc.anchor()
	ds := t.Sub(a)
	if ds == math.MinInt64 || ds == math.MaxInt64 {
		return time.Time{}, false
	}
	d, p := ds-sc.Length, sc.Period
	k := d / p
	if d%p != 0 && d < 0 {
		k--
	}
	return a.Add(k * p), true
}

// Starts yields, in order, the start of every window that lies entirely
// in [from, to): from <= start and start + Length <= to.
func (sc Schedule) Starts(from, to time.Time) iter.Seq[time.Time] {
	return func(yield func(time.Time) bool) {
		for s := sc.Next(from); !s.Add(sc.Length).After(to); s = s.Add(sc.Period) {
			if !yield(s) {
				return
			}
		}
	}
}
