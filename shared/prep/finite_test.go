package prep

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// A cell whose samples sum past the float64 range has no finite mean: it
// is missing, as the same cell given to FromGrid as ±Inf is, and never an
// infinite value with mask 1.
func TestFinishNonFiniteMeanIsMissing(t *testing.T) {
	spec := testSpec()
	big := math.MaxFloat64 / 2 * 1.5
	rs := []reading.Reading{
		rd("A", 0, 1), rd("A", 1, big), rd("A", 1.5, big), // cell 1: +Inf
		rd("A", 2, -big), rd("A", 2.5, -big), // cell 2: -Inf
		rd("A", 3, 4), rd("A", 4, 5), rd("A", 5, 6), rd("A", 6, 7), rd("A", 7, 8),
	}
	for _, r := range rs[1:5] {
		if math.IsInf(r.Value, 0) {
			t.Fatal("test values must be finite")
		}
	}
	w, err := Resample(spec, t0, rs)
	if err != nil {
		t.Fatal(err)
	}
	for k := 1; k <= 2; k++ {
		// Cell 1 is held from cell 0 (hold 1); cell 2 is then missing.
		v, m := w.Values[k], w.Mask[k]
		if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
			t.Errorf("Values[%d] = %v", k, v)
		}
		if math.IsInf(w.Raw[k], 0) {
			t.Errorf("Raw[%d] = %v with mask %v", k, w.Raw[k], m)
		}
	}
	if w.Raw[1] != 1 || w.Mask[1] != 1 || !math.IsNaN(w.Raw[2]) || w.Mask[2] != 0 {
		t.Errorf("Raw[0:3] = %v, Mask[0:3] = %v; want cell 1 held, cell 2 missing", w.Raw[0:3], w.Mask[0:3])
	}
	if w.Observed[0] != 6 {
		t.Errorf("Observed[A] = %d, want 6", w.Observed[0])
	}

	grid := [][]float64{
		{1, math.Inf(1), math.Inf(-1), 4, 5, 6, 7, 8},
		{nan, nan, nan, nan, nan, nan, nan, nan},
		{nan, nan, nan, nan, nan, nan, nan, nan},
	}
	g, err := FromGrid(spec, grid)
	if err != nil {
		t.Fatal(err)
	}
	sameModelInput(t, w, g)
}

// Validate refuses a std so small that ordinary values normalise to ±Inf
// in float32, naming the sensor; a std below StdFloor but above MinStd
// (a composed spec, as shipped bundles hold) stays valid.
func TestSpecValidateMinStd(t *testing.T) {
	for _, tc := range []struct {
		name string
		std  float64
		want string // "" valid
	}{
		{"denormal", 5e-324, `sensors[0] "A": std 5e-324 is below its minimum 0.0002`},
		{"tiny", 1e-30, `sensors[0] "A": std 1e-30 is below its minimum`},
		{"just below", 0.000199, "below its minimum"},
		{"at minimum", 0.0002, ""},
		{"below floor, above minimum", 0.05, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec() // A: range 0..200: floor 0.2, minimum 0.0002
			s.Sensors[0].Std = tc.std
			err := s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	// Without a range the minimum is a fraction of max(|mean|, 1).
	s := testSpec()
	s.Sensors[1].Mean, s.Sensors[1].Std = 1e6, 0.5
	if err := s.Validate(); err == nil || !strings.Contains(err.Error(), `sensors[1] "B": std 0.5 is below its minimum 1`) {
		t.Errorf("B: err = %v", err)
	}

	// What the old rule let through: a full-scale value normalised to
	// +Inf in float32.
	s = testSpec()
	s.Sensors[0].Std = 1e-300
	if _, err := FromGrid(s, [][]float64{{200, 0, 0, 0, 0, 0, 0, 0}, make([]float64, 8), make([]float64, 8)}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("FromGrid with std 1e-300: err = %v", err)
	}
}

// A sensor whose range is so wide (pressure in Pa) that the identity std
// of 1 is below its minimum gets the minimum from SpecFromConfig.
func TestSpecFromConfigWideRange(t *testing.T) {
	cfg := &rig.Config{APIVersion: rig.APIVersion, RigType: "x", Sensors: []rig.Sensor{
		{ID: "P", Kind: rig.KindPressure, Unit: "Pa", RateHz: 1, Range: rig.Range{Min: 0, Max: 4e7}, Component: "x"},
		{ID: "Q", Kind: rig.KindPressure, Unit: "bar", RateHz: 1, Range: rig.Range{Min: 0, Max: 400}, Component: "x"},
	}}
	spec, err := SpecFromConfig(cfg, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	if p, q := spec.Sensors[0], spec.Sensors[1]; p.Mean != 0 || p.Std != 40 || q.Std != 1 {
		t.Errorf("P std %v, Q std %v", p.Std, q.Std)
	}
}
