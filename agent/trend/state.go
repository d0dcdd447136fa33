package trend

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is what a Tracker has recorded, to be kept across restarts
// (State, Restore): per component its points (at most MaxPoints, the
// buckets of the last Window) and the running mean of the newest
// bucket. It is small, a few KB per component, and a Tracker restored
// from it estimates exactly as the one it was taken from. Times are Unix
// nanoseconds.
type State struct {
	Version    int              `json:"version"`
	Components []ComponentState `json:"components"`
}

// ComponentState is one component's part of a State.
type ComponentState struct {
	ID string `json:"id"`
	// Times and Health are the points, oldest first.
	Times  []int64   `json:"times"`
	Health []float64 `json:"health"`
	// Last is the newest window recorded; BucketStart, BucketN, SumOff
	// and SumH the newest bucket's start, count and sums (the newest
	// point is their mean).
	Last        int64   `json:"last"`
	BucketStart int64   `json:"bucket_start"`
	BucketN     int     `json:"bucket_n"`
	SumOff      float64 `json:"sum_off"`
	SumH        float64 `json:"sum_h"`
}

// State returns a copy of what t has recorded.
func (t *Tracker) State() State {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := State{Version: StateVersion, Components: make([]ComponentState, 0, len(t.comps))}
	for id, s := range t.comps {
		c := ComponentState{ID: id, Times: make([]int64, len(s.pts)), Health: make([]float64, len(s.pts)),
			Last: s.lastRaw.UnixNano(), BucketStart: s.bucketStart.UnixNano(), BucketN: s.bucketN, SumOff: s.sumOff, SumH: s.sumH}
		for i, p := range s.pts {
			c.Times[i], c.Health[i] = p.Time.UnixNano(), p.Health
		}
		st.Components = append(st.Components, c)
	}
	return st
}

// Restore replaces what t has recorded with st, after checking it: its
// version, at most MaxComponents components of at most MaxPoints points
// each, times increasing and not after the component's newest window,
// health in [0, 1]. A State that fails the check changes nothing. The
// components of st not in Options.Components (when set) are dropped, not
// refused: a rig that lost a component keeps the others' health.
func (t *Tracker) Restore(st State) error {
	if st.Version != StateVersion {
		return fmt.Errorf("trend: state version %d, want %d", st.Version, StateVersion)
	}
	if len(st.Components) > t.o.MaxComponents {
		return fmt.Errorf("trend: state of %d components, at most %d", len(st.Components), t.o.MaxComponents)
	}
	comps := make(map[string]*series, len(st.Components))
	for _, c := range st.Components {
		if err := t.checkComponent(c); err != nil {
			return fmt.Errorf("trend: state of component %q: %w", c.ID, err)
		}
		if comps[c.ID] != nil {
			return fmt.Errorf("trend: state of component %q: given twice", c.ID)
		}
		if !t.tracks(c.ID) {
			continue
		}
		s := &series{pts: make([]diag.HealthPoint, len(c.Times)), lastRaw: time.Unix(0, c.Last).UTC(),
			bucketN: c.BucketN, sumOff: c.SumOff, sumH: c.SumH}
		if c.BucketN > 0 {
			s.bucketStart = time.Unix(0, c.BucketStart).UTC()
		}
		for i := range c.Times {
			s.pts[i] = diag.HealthPoint{Time: time.Unix(0, c.Times[i]).UTC(), Health: c.Health[i]}
		}
		comps[c.ID] = s
	}
	t.mu.Lock()
	t.comps = comps
	t.mu.Unlock()
	return nil
}

func (t *Tracker) checkComponent(c ComponentState) error {
	switch {
	case c.ID == "":
		return errors.New("no id")
	case len(c.Times) != len(c.Health):
		return fmt.Errorf("%d times but %d health values", len(c.Times), len(c.Health))
	case len(c.Times) == 0:
		return errors.New("no points")
	case len(c.Times) > t.o.MaxPoints:
		return fmt.Errorf("%d points, at most %d", len(c.Times), t.o.MaxPoints)
	case c.BucketN < 0 || math.IsNaN(c.SumOff) || math.IsNaN(c.SumH):
		return fmt.Errorf("bucket of %d points, sums %v and %v", c.BucketN, c.SumOff, c.SumH)
	}
	for i, at := range c.Times {
		if i > 0 && at <= c.Times[i-1] {
			return fmt.Errorf("point %d not after the one before", i)
		}
		if at > c.Last {
			return fmt.Errorf("point %d after the newest window", i)
		}
		if h := c.Health[i]; !(h >= 0 && h <= 1) {
			return fmt.Errorf("point %d: health %v not in [0, 1]", i, h)
		}
	}
	return nil
}

// Newest returns the newest window t has recorded for any component
// (zero: none).
func (t *Tracker) Newest() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var n time.Time
	for _, s := range t.comps {
		if s.lastRaw.After(n) {
			n = s.lastRaw
		}
	}
	return n
}
