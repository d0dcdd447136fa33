package prep

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig"
)

func twoPass(xs []float64) (mean, std float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(xs)))
}

func TestStatsWelfordStable(t *testing.T) {
	// A large offset with small spread defeats the naive sum-of-squares.
	spec := testSpec()
	a, err := NewStatsAccumulator(spec)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float64, 100000)
	for i := range xs {
		xs[i] = 1e9 + rng.NormFloat64()*0.01
		a.AddValue(1, xs[i])
	}
	mean, std := twoPass(xs)
	st := a.Stats()[1]
	if st.N != int64(len(xs)) || math.Abs(st.Mean-mean) > 1e-6 || math.Abs(st.Std-std)/std > 1e-6 {
		t.Errorf("got %+v, want mean %v std %v", st, mean, std)
	}
}

func TestStatsIgnoresMissingCells(t *testing.T) {
	spec := testSpec()
	spec.MaxHoldSteps = 1
	a, err := NewStatsAccumulator(spec)
	if err != nil {
		t.Fatal(err)
	}
	// B: observed 2 and 4, one held cell of 4, the rest missing.
	w, err := FromGrid(spec, [][]float64{
		{1, 1, 1, 1, 1, 1, 1, 1},
		{2, nan, nan, nan, nan, 4, 4, nan},
		{nan, nan, nan, nan, nan, nan, nan, nan},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Add(w); err != nil {
		t.Fatal(err)
	}
	st := a.Stats()
	mean, std := twoPass([]float64{2, 2, 4, 4, 4}) // cells 0, 1 (held), 5, 6, 7 (held)
	if st[1].N != 5 || math.Abs(st[1].Mean-mean) > 1e-12 || math.Abs(st[1].Std-std) > 1e-12 {
		t.Errorf("B: %+v, want N 5 mean %v std %v", st[1], mean, std)
	}
	if st[2].N != 0 || st[2].Mean != 0 || st[2].Std != 0 {
		t.Errorf("C: %+v", st[2])
	}
	a.AddValue(2, math.NaN())
	a.AddValue(2, math.Inf(1))
	if a.Stats()[2].N != 0 {
		t.Error("non-finite values were accumulated")
	}
	if _, err := a.Apply(spec); err == nil || !strings.Contains(err.Error(), `sensor "C" has no present cells`) {
		t.Errorf("Apply with an empty sensor: err = %v", err)
	}
}

func TestStatsMerge(t *testing.T) {
	spec := testSpec()
	all, _ := NewStatsAccumulator(spec)
	parts := []*StatsAccumulator{}
	rng := rand.New(rand.NewPCG(3, 4))
	for p := range 4 {
		a, _ := NewStatsAccumulator(spec)
		for range 100 * (p + 1) {
			for s := range 3 {
				x := float64(s*50) + rng.NormFloat64()*float64(p+1)
				a.AddValue(s, x)
				all.AddValue(s, x)
			}
		}
		parts = append(parts, a)
	}
	merged, _ := NewStatsAccumulator(spec)
	for _, p := range parts {
		if err := merged.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	for s, want := range all.Stats() {
		got := merged.Stats()[s]
		if got.N != want.N || math.Abs(got.Mean-want.Mean) > 1e-9 || math.Abs(got.Std-want.Std) > 1e-9 {
			t.Errorf("sensor %d: merged %+v, sequential %+v", s, got, want)
		}
	}
	other := testSpec()
	other.Sensors[2].ID = "D"
	b, _ := NewStatsAccumulator(other)
	if err := merged.Merge(b); !errors.Is(err, ErrShape) {
		t.Errorf("merge of other sensors: err = %v", err)
	}
}

func TestStatsApplyAndStdFloor(t *testing.T) {
	spec := testSpec()
	spec.Sensors[2].Range = rig.Range{} // C: no range
	a, _ := NewStatsAccumulator(spec)
	for range 10 {
		a.AddValue(0, 150) // A: constant, range 0..200 -> floor 0.2
		a.AddValue(2, -7)  // C: constant, no range -> floor 0.001*7
	}
	for _, x := range []float64{1, 3} {
		a.AddValue(1, x) // B: mean 2, std 1
	}
	got, err := a.Apply(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ mean, std float64 }{{150, 0.2}, {2, 1}, {-7, 0.007}}
	for s, w := range want {
		ss := got.Sensors[s]
		if ss.Mean != w.mean || math.Abs(ss.Std-w.std) > 1e-15 {
			t.Errorf("%s: mean %v std %v, want %v %v", ss.ID, ss.Mean, ss.Std, w.mean, w.std)
		}
	}
	if spec.Sensors[0].Std != 1 {
		t.Error("Apply modified its input spec")
	}
	// A constant sensor near zero without a range gets 0.001.
	if f := (SensorSpec{Mean: 1e-9}).StdFloor(); f != 1e-3 {
		t.Errorf("StdFloor near zero = %v", f)
	}
	// A field value one full scale away stays bounded: (0-150)/0.2 = -750.
	w, err := FromGrid(got, [][]float64{{0, 0, 0, 0, 0, 0, 0, 0}, make([]float64, 8), make([]float64, 8)})
	if err != nil {
		t.Fatal(err)
	}
	if w.Values[0] != -750 {
		t.Errorf("normalised full-scale deviation = %v, want -750", w.Values[0])
	}

	short := testSpec()
	short.Sensors = short.Sensors[:2]
	if _, err := a.Apply(short); !errors.Is(err, ErrShape) {
		t.Errorf("Apply to another spec: err = %v", err)
	}
	renamed := testSpec()
	renamed.Sensors[1].ID = "X"
	if _, err := a.Apply(renamed); !errors.Is(err, ErrShape) {
		t.Errorf("Apply to renamed spec: err = %v", err)
	}
	if err := a.Add(&Window{Steps: 4, Raw: make([]float64, 12), Mask: make([]float32, 12)}); !errors.Is(err, ErrShape) {
		t.Errorf("Add of another shape: err = %v", err)
	}
}
