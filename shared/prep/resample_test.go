package prep

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

var nan = math.NaN()

func TestResample(t *testing.T) {
	aBlock := func(sec float64, vals ...float64) []reading.Reading {
		var rs []reading.Reading
		for i, v := range vals {
			rs = append(rs, rd("A", sec+float64(i)/10, v))
		}
		return rs
	}
	tests := []struct {
		name     string
		spec     func(*Spec)
		readings []reading.Reading
		sensor   string
		want     []float64 // Raw row of sensor, NaN missing
		counts   Counts
		missing  []string
		stale    []string
	}{
		{
			name:     "mean of block",
			readings: append(aBlock(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10), aBlock(1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2)...),
			sensor:   "A", want: []float64{5.5, 2, 2, nan, nan, nan, nan, nan},
			counts: Counts{Used: 20}, missing: []string{"B", "C"}, stale: []string{"A"},
		},
		{
			name:     "sample on a boundary belongs to the later cell",
			readings: []reading.Reading{rd("A", 0.5, 1), rd("A", 1, 3), rd("A", 1.999999999, 5)},
			sensor:   "A", want: []float64{1, 4, 4, nan, nan, nan, nan, nan},
			counts: Counts{Used: 3}, missing: []string{"B", "C"}, stale: []string{"A"},
		},
		{
			name:     "hold one step then missing",
			readings: []reading.Reading{rd("B", 0, 3), rd("B", 5.2, 7)},
			sensor:   "B", want: []float64{3, 3, nan, nan, nan, 7, 7, nan},
			counts: Counts{Used: 2}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name:     "hold zero holds nothing",
			spec:     func(s *Spec) { s.MaxHoldSteps = 0 },
			readings: []reading.Reading{rd("B", 0, 3), rd("B", 2, 4)},
			sensor:   "B", want: []float64{3, nan, 4, nan, nan, nan, nan, nan},
			counts: Counts{Used: 2}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name:     "slow sensor held between samples",
			readings: []reading.Reading{rd("C", 0, 1), rd("C", 4, 2)},
			sensor:   "C", want: []float64{1, 1, 1, 1, 2, 2, 2, 2},
			counts: Counts{Used: 2}, missing: []string{"A", "B"},
		},
		{
			name:     "slow sensor hold expires after a missed sample",
			readings: []reading.Reading{rd("C", 0, 1)},
			sensor:   "C", want: []float64{1, 1, 1, 1, 1, nan, nan, nan},
			counts: Counts{Used: 1}, missing: []string{"A", "B"}, stale: []string{"C"},
		},
		{
			name:     "cells before the first sample are missing",
			readings: []reading.Reading{rd("C", 2, 1), rd("C", 6, 2)},
			sensor:   "C", want: []float64{nan, nan, 1, 1, 1, 1, 2, 2},
			counts: Counts{Used: 2}, missing: []string{"A", "B"}, stale: []string{"C"},
		},
		{
			name:     "held value is the last observed cell's mean, not chained",
			spec:     func(s *Spec) { s.MaxHoldSteps = 2 },
			readings: []reading.Reading{rd("B", 0, 1), rd("B", 0.5, 3), rd("B", 4, 9)},
			sensor:   "B", want: []float64{2, 2, 2, nan, 9, 9, 9, nan},
			counts: Counts{Used: 3}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name: "bad, uncertain and unknown quality ignored",
			readings: []reading.Reading{
				rd("B", 0, 1), rdq("B", 0.5, 100, reading.Bad), rdq("B", 0.6, 100, reading.Uncertain),
				rdq("B", 0.7, 100, reading.Quality(7)), rdq("B", 1, 100, reading.Bad),
			},
			sensor: "B", want: []float64{1, 1, nan, nan, nan, nan, nan, nan},
			counts: Counts{Used: 1, Bad: 3, Uncertain: 1}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name: "NaN and Inf readings are missing samples",
			spec: func(s *Spec) { s.MaxHoldSteps = 0 },
			readings: []reading.Reading{
				rd("B", 0, 1), rd("B", 0.5, math.NaN()), rd("B", 1, math.Inf(1)), rd("B", 2, math.Inf(-1)),
				rd("B", 3, 4),
			},
			sensor: "B", want: []float64{1, nan, nan, 4, nan, nan, nan, nan},
			counts: Counts{Used: 2, Invalid: 3}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name:     "unknown sensors counted and ignored",
			readings: []reading.Reading{rd("Z", 0, 1), rd("B", 0, 1), rd("a", 1, 1), rd("", 2, 1)},
			sensor:   "B", want: []float64{1, 1, nan, nan, nan, nan, nan, nan},
			counts: Counts{Used: 1, Unknown: 3}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name: "out of window ignored",
			readings: []reading.Reading{
				rd("B", -0.000000001, 50), rd("B", -3, 50), rd("B", 8, 50), rd("B", 100, 50), rd("B", 7.5, 2),
			},
			sensor: "B", want: []float64{nan, nan, nan, nan, nan, nan, nan, 2},
			counts: Counts{Used: 1, OutOfWindow: 4}, missing: []string{"A", "C"}, stale: []string{"B"},
		},
		{
			name:     "zero time reading is out of window",
			readings: []reading.Reading{{Sensor: "B", Value: 1}},
			sensor:   "B", want: []float64{nan, nan, nan, nan, nan, nan, nan, nan},
			counts: Counts{OutOfWindow: 1}, missing: []string{"A", "B", "C"},
		},
		{
			name:   "no readings: every sensor missing",
			sensor: "A", want: []float64{nan, nan, nan, nan, nan, nan, nan, nan},
			missing: []string{"A", "B", "C"},
		},
		{
			name: "readings in any order",
			readings: []reading.Reading{
				rd("C", 4, 2), rd("B", 7, 1), rd("C", 0, 1), rd("B", 0, 1), rd("B", 6, 1), rd("B", 2, 1), rd("B", 4, 1),
			},
			sensor: "B", want: []float64{1, 1, 1, 1, 1, 1, 1, 1},
			counts: Counts{Used: 7}, missing: []string{"A"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := testSpec()
			if tc.spec != nil {
				tc.spec(&spec)
			}
			w, err := Resample(spec, t0, tc.readings)
			if err != nil {
				t.Fatal(err)
			}
			s := spec.Index(tc.sensor)
			T := spec.Steps
			if got := w.Raw[s*T : (s+1)*T]; !rawEqual(got, tc.want) {
				t.Errorf("Raw[%s] = %v, want %v", tc.sensor, got, tc.want)
			}
			for i, x := range tc.want {
				wantMask := float32(1)
				if math.IsNaN(x) {
					wantMask = 0
				}
				if w.Mask[s*T+i] != wantMask {
					t.Errorf("Mask[%s][%d] = %v, want %v", tc.sensor, i, w.Mask[s*T+i], wantMask)
				}
			}
			if w.Counts != tc.counts {
				t.Errorf("Counts = %+v, want %+v", w.Counts, tc.counts)
			}
			if w.Counts.total() != len(tc.readings) {
				t.Errorf("Counts sum to %d, %d readings given", w.Counts.total(), len(tc.readings))
			}
			if !slices.Equal(w.Missing, tc.missing) {
				t.Errorf("Missing = %v, want %v", w.Missing, tc.missing)
			}
			if !slices.Equal(w.Stale, tc.stale) {
				t.Errorf("Stale = %v, want %v", w.Stale, tc.stale)
			}
			if !w.Start.Equal(t0) {
				t.Errorf("Start = %v, want %v", w.Start, t0)
			}
			// Invariants: missing cells are 0 in Values; coverage matches the mask.
			for s := range spec.Sensors {
				present := 0
				for i := s * T; i < (s+1)*T; i++ {
					if w.Mask[i] == 0 {
						if w.Values[i] != 0 || !math.IsNaN(w.Raw[i]) {
							t.Errorf("missing cell %d: Values %v, Raw %v", i, w.Values[i], w.Raw[i])
						}
					} else {
						present++
					}
				}
				if want := float64(present) / float64(T); w.Coverage[s] != want {
					t.Errorf("Coverage[%d] = %v, want %v", s, w.Coverage[s], want)
				}
			}
		})
	}
}

func TestResampleNormalises(t *testing.T) {
	spec := testSpec()
	spec.Sensors[1].Mean, spec.Sensors[1].Std = 10, 4
	spec.MaxHoldSteps = 0
	w, err := Resample(spec, t0, []reading.Reading{rd("B", 0, 14), rd("B", 1, 4), rd("B", 3, 10)})
	if err != nil {
		t.Fatal(err)
	}
	got := w.Values[8:16]
	want := []float32{1, -1.5, 0, 0, 0, 0, 0, 0}
	if !slices.Equal(got, want) {
		t.Errorf("Values[B] = %v, want %v", got, want)
	}
	if mask := w.Mask[8:16]; !slices.Equal(mask, []float32{1, 1, 0, 1, 0, 0, 0, 0}) {
		t.Errorf("Mask[B] = %v", mask)
	}
	if w.Raw[8] != 14 || w.Raw[9] != 4 {
		t.Errorf("Raw must stay un-normalised, got %v", w.Raw[8:16])
	}
}

func TestResampleFractionalGrid(t *testing.T) {
	// A 3 Hz grid has boundaries at 0, 333333333, 666666667, 1000000000 ns.
	spec := testSpec()
	spec.GridHz, spec.Steps, spec.StrideSteps, spec.MaxHoldSteps = 3, 3, 3, 0
	if got := spec.CellStart(2); got != 666666667 {
		t.Fatalf("CellStart(2) = %d", got)
	}
	rs := []reading.Reading{
		{Sensor: "B", Time: t0.Add(333333332), Value: 1},
		{Sensor: "B", Time: t0.Add(333333333), Value: 2},
		{Sensor: "B", Time: t0.Add(666666666), Value: 4},
		{Sensor: "B", Time: t0.Add(666666667), Value: 8},
		{Sensor: "B", Time: t0.Add(999999999), Value: 16},
		{Sensor: "B", Time: t0.Add(time.Second), Value: 32},
	}
	w, err := Resample(spec, t0, rs)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.Raw[3:6], []float64{1, 3, 12}; !rawEqual(got, want) {
		t.Errorf("Raw[B] = %v, want %v", got, want)
	}
	if w.Counts.OutOfWindow != 1 {
		t.Errorf("Counts = %+v", w.Counts)
	}
}

func TestResamplerReuse(t *testing.T) {
	spec := testSpec()
	r, err := NewResampler(spec)
	if err != nil {
		t.Fatal(err)
	}
	first := r.Resample(t0, []reading.Reading{rd("A", 0, 5), rd("B", 0, 1), rd("Z", 0, 1)}).Clone()
	// A second window must not see the first one's data or counts.
	t1 := t0.Add(8 * time.Second)
	w := r.Resample(t1, []reading.Reading{{Sensor: "B", Time: t1, Value: 2}})
	if !slices.Equal(w.Missing, []string{"A", "C"}) || w.Counts != (Counts{Used: 1}) || w.Raw[8] != 2 {
		t.Errorf("second window: Missing %v, Counts %+v, Raw %v", w.Missing, w.Counts, w.Raw)
	}
	if first.Raw[0] != 5 || first.Counts.Unknown != 1 {
		t.Errorf("Clone changed by reuse: %v %+v", first.Raw, first.Counts)
	}
	// Incremental Add in several calls equals one call.
	r.Reset(t0)
	r.Add([]reading.Reading{rd("A", 0, 5)})
	r.Add(nil)
	r.Add([]reading.Reading{rd("B", 0, 1), rd("Z", 0, 1)})
	got := r.Finish()
	sameModelInput(t, got, first)
	sameModelInput(t, r.Finish(), first) // Finish is idempotent
	if got.Counts != first.Counts {
		t.Errorf("Counts %+v != %+v", got.Counts, first.Counts)
	}
	// The resampler copied the spec: changing the caller's does nothing.
	spec.Sensors[0].Mean = 1000
	if r.Spec().Sensors[0].Mean != 0 {
		t.Error("Resampler shares the caller's spec")
	}
}

func TestResampleBadSpec(t *testing.T) {
	spec := testSpec()
	spec.Sensors[0].Std = 0
	if _, err := Resample(spec, t0, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("Resample: err = %v, want ErrInvalidSpec", err)
	}
	if _, err := FromGrid(spec, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("FromGrid: err = %v, want ErrInvalidSpec", err)
	}
	if _, err := NewResampler(Spec{}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("NewResampler: err = %v, want ErrInvalidSpec", err)
	}
}

func TestFromGrid(t *testing.T) {
	spec := testSpec()
	grid := [][]float64{
		{1, 2, 3, 4, 5, 6, 7, 8},
		{nan, 1, nan, nan, math.Inf(1), 2, math.Inf(-1), 3},
		{nan, nan, nan, nan, nan, nan, nan, nan},
	}
	w, err := FromGrid(spec, grid)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.Raw[8:16], []float64{nan, 1, 1, nan, nan, 2, 2, 3}; !rawEqual(got, want) {
		t.Errorf("Raw[B] = %v, want %v", got, want)
	}
	if !slices.Equal(w.Observed, []int{8, 3, 0}) {
		t.Errorf("Observed = %v", w.Observed)
	}
	if !slices.Equal(w.Missing, []string{"C"}) || !slices.Equal(w.Stale, []string{"B"}) {
		t.Errorf("Missing %v Stale %v", w.Missing, w.Stale)
	}
	if !w.Start.IsZero() || w.Counts != (Counts{}) {
		t.Errorf("Start %v Counts %+v", w.Start, w.Counts)
	}
	if grid[1][2] == 1 || !math.IsNaN(grid[1][2]) {
		t.Error("FromGrid modified its input")
	}
}

func TestFromGridShape(t *testing.T) {
	spec := testSpec()
	row := make([]float64, 8)
	for _, tc := range []struct {
		name string
		grid [][]float64
		want string
	}{
		{"too few rows", [][]float64{row, row}, "grid has 2 sensor rows, spec has 3 sensors"},
		{"short row", [][]float64{row, row[:7], row}, `grid row 1 ("B") has 7 cells, spec has 8 steps`},
		{"nil", nil, "grid has 0 sensor rows"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromGrid(spec, tc.grid)
			if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrShape with %q", err, tc.want)
			}
		})
	}
}

func TestGridFromSamples(t *testing.T) {
	tests := []struct {
		name         string
		rate, gridHz float64
		values       []float64
		steps        int
		want         []float64
	}{
		{"10 Hz to 1 Hz", 10, 1, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 2, []float64{5.5, 5}},
		{"short row leaves NaN", 10, 1, []float64{1, 2, 3}, 2, []float64{2, nan}},
		{"extra samples ignored", 2, 1, []float64{1, 3, 5, 7, 100, 100}, 2, []float64{2, 6}},
		{"NaN samples skipped", 4, 1, []float64{1, nan, 3, math.Inf(1), nan, nan, nan, nan}, 2, []float64{2, nan}},
		{"slow sensor leaves gaps", 0.5, 1, []float64{1, 2}, 4, []float64{1, nan, 2, nan}},
		{"same rate copies", 1, 1, []float64{1, 2, 3}, 3, []float64{1, 2, 3}},
		{"3 Hz onto 2 Hz", 3, 2, []float64{1, 2, 3, 4, 5, 6}, 4, []float64{1.5, 3, 4.5, 6}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := GridFromSamples(tc.rate, tc.values, tc.gridHz, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if !rawEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		rate, gridHz float64
		steps        int
		want         string
	}{
		{0, 1, 1, "rate_hz"}, {math.NaN(), 1, 1, "rate_hz"}, {math.Inf(1), 1, 1, "rate_hz"},
		{1, 0, 1, "grid_hz"}, {1, 2e6, 1, "grid_hz"}, {1, 1, 0, "steps"}, {1, 1e-6, 1000, "steps"},
	} {
		if _, err := GridFromSamples(tc.rate, nil, tc.gridHz, tc.steps); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("GridFromSamples(%v, nil, %v, %d): err = %v, want %q", tc.rate, tc.gridHz, tc.steps, err, tc.want)
		}
	}
}
