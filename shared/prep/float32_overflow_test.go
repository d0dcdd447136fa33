package prep

import (
	"math"
	"testing"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// A finite value whose normalised value is beyond the float32 range (B
// has no measuring range, so nothing bounds it) is missing, as a cell with
// a non-finite mean is: never +Inf in Values with Mask 1. Before, 1e39
// gave Values +Inf, Mask 1.
func TestFinishFloat32OverflowIsMissing(t *testing.T) {
	spec := testSpec() // B: 1 Hz, Mean 0, Std 1, no range, hold 1
	const big = 1e39   // finite in float64, beyond math.MaxFloat32
	rs := []reading.Reading{
		rd("B", 0, 1), rd("B", 1, big), rd("B", 2, -big),
		rd("B", 3, 4), rd("B", 4, 5), rd("B", 5, 6), rd("B", 6, 7), rd("B", 7, 8),
	}
	w, err := Resample(spec, t0, rs)
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, w *Window) {
		t.Helper()
		T := spec.Steps
		vals, mask, raw := w.Values[T:2*T], w.Mask[T:2*T], w.Raw[T:2*T]
		for k, v := range vals {
			if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
				t.Errorf("%s: B Values[%d] = %v with mask %v", name, k, v, mask[k])
			}
		}
		// Cell 1 is held from cell 0 (hold 1); cell 2 is then missing.
		if raw[1] != 1 || mask[1] != 1 || vals[1] != 1 {
			t.Errorf("%s: B cell 1: raw %v, value %v, mask %v; want held 1", name, raw[1], vals[1], mask[1])
		}
		if !math.IsNaN(raw[2]) || mask[2] != 0 || vals[2] != 0 {
			t.Errorf("%s: B cell 2: raw %v, value %v, mask %v; want missing", name, raw[2], vals[2], mask[2])
		}
		if w.Observed[1] != 6 {
			t.Errorf("%s: Observed[B] = %d, want 6", name, w.Observed[1])
		}
		if w.Coverage[1] != 7.0/8 {
			t.Errorf("%s: Coverage[B] = %v, want 7/8", name, w.Coverage[1])
		}
	}
	check("Resample", w)

	nan := math.NaN()
	grid := [][]float64{
		{nan, nan, nan, nan, nan, nan, nan, nan},
		{1, big, -big, 4, 5, 6, 7, 8},
		{nan, nan, nan, nan, nan, nan, nan, nan},
	}
	g, err := FromGrid(spec, grid)
	if err != nil {
		t.Fatal(err)
	}
	check("FromGrid", g)
	sameModelInput(t, w, g)
}
