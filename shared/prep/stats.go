package prep

import (
	"fmt"
	"math"
	"slices"
)

// Stat is one sensor's accumulated statistics.
type Stat struct {
	// ID is the sensor id.
	ID string
	// N is the number of cells accumulated.
	N int64
	// Mean is their mean (0 when N is 0).
	Mean float64
	// Std is their population standard deviation (divided by N), before
	// the floor of SensorSpec.StdFloor (0 when N is 0).
	Std float64
}

// StatsAccumulator computes each sensor's normalisation mean and std over
// the cells of many windows, with Welford's numerically stable update; the
// trainer fills a Spec's stats with it (Apply), so training and inference
// normalise with the same numbers.
//
// It accumulates the raw values of the cells a model sees as present
// (Mask 1: observed or held) and ignores missing cells. Accumulators of
// disjoint data can be merged (Merge) to parallelise. Not safe for
// concurrent use.
type StatsAccumulator struct {
	ids   []string
	steps int
	n     []int64
	mean  []float64
	m2    []float64
}

// NewStatsAccumulator returns an empty accumulator for spec's sensors.
func NewStatsAccumulator(spec Spec) (*StatsAccumulator, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	S := len(spec.Sensors)
	a := &StatsAccumulator{ids: make([]string, S), steps: spec.Steps,
		n: make([]int64, S), mean: make([]float64, S), m2: make([]float64, S)}
	for i, ss := range spec.Sensors {
		a.ids[i] = ss.ID
	}
	return a, nil
}

// Add accumulates every present cell (Mask 1) of w, using its Raw value.
// w must come from a spec with the accumulator's sensors and steps.
func (a *StatsAccumulator) Add(w *Window) error {
	S, T := len(a.ids), a.steps
	if w.Steps != T || len(w.Raw) != S*T || len(w.Mask) != S*T {
		return fmt.Errorf("%w: window has %d cells of %d steps, accumulator expects %d sensors x %d steps",
			ErrShape, len(w.Raw), w.Steps, S, T)
	}
	for s := range S {
		for t := s * T; t < (s+1)*T; t++ {
			if w.Mask[t] != 0 {
				a.AddValue(s, w.Raw[t])
			}
		}
	}
	return nil
}

// AddValue accumulates one value of sensor s (spec order); NaN and ±Inf
// are ignored. It panics if s is out of range.
func (a *StatsAccumulator) AddValue(s int, x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	a.n[s]++
	d := x - a.mean[s]
	a.mean[s] += d / float64(a.n[s])
	a.m2[s] += d * (x - a.mean[s])
}

// Merge adds b's accumulated data into a (Chan et al.'s pairwise update).
// Both must be for the same sensors in the same order.
func (a *StatsAccumulator) Merge(b *StatsAccumulator) error {
	if !slices.Equal(a.ids, b.ids) {
		return fmt.Errorf("%w: merge accumulators of different sensors (%v and %v)", ErrShape, a.ids, b.ids)
	}
	for s := range a.ids {
		na, nb := a.n[s], b.n[s]
		if nb == 0 {
			continue
		}
		n := na + nb
		d := b.mean[s] - a.mean[s]
		a.mean[s] += d * float64(nb) / float64(n)
		a.m2[s] += b.m2[s] + d*d*float64(na)*float64(nb)/float64(n)
		a.n[s] = n
	}
	return nil
}

// Stats returns each sensor's statistics so far, in spec order.
func (a *StatsAccumulator) Stats() []Stat {
	out := make([]Stat, len(a.ids))
	for s, id := range a.ids {
		out[s] = Stat{ID: id, N: a.n[s], Mean: a.mean[s]}
		if a.n[s] > 0 {
			out[s].Std = math.Sqrt(math.Max(a.m2[s], 0) / float64(a.n[s]))
		}
	}
	return out
}

// Apply returns a copy of spec with each sensor's Mean and Std set from
// the accumulated data: Std = max(population std, SensorSpec.StdFloor())
// with the floor computed from the new Mean. It fails when spec's sensors
// differ from the accumulator's or a sensor has no data (a model cannot be
// trained on a sensor never seen).
func (a *StatsAccumulator) Apply(spec Spec) (Spec, error) {
	if len(spec.Sensors) != len(a.ids) {
		return Spec{}, fmt.Errorf("%w: spec has %d sensors, accumulator %d", ErrShape, len(spec.Sensors), len(a.ids))
	}
	out := spec.clone()
	for s, st := range a.Stats() {
		ss := &out.Sensors[s]
		if ss.ID != st.ID {
			return Spec{}, fmt.Errorf("%w: spec sensor %d is %q, accumulator has %q", ErrShape, s, ss.ID, st.ID)
		}
		if st.N == 0 {
			return Spec{}, fmt.Errorf("prep: sensor %q has no present cells in the data; cannot compute its stats", st.ID)
		}
		ss.Mean = st.Mean
		ss.Std = math.Max(st.Std, ss.StdFloor())
	}
	if err := out.Validate(); err != nil {
		return Spec{}, err
	}
	return out, nil
}
