package train

import (
	"math"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

func TestAveragerFold(t *testing.T) {
	w := func(v float32) gnn.Weights {
		return gnn.Weights{{Name: "a", Shape: []int{2}, Data: []float32{v, 2 * v}}}
	}
	a := newAverager(0.9)
	a.fold(w(1), 1)
	a.fold(w(3), 2) // warm-up decay min(0.9, 3/12) = 0.25
	if got, want := a.w[0].Data[0], float32(0.25*1+0.75*3); math.Abs(float64(got-want)) > 1e-6 {
		t.Fatalf("average after the warm-up step: %v, want %v", got, want)
	}
	for step := 3; step < 2000; step++ {
		a.fold(w(5), step)
	}
	if got := a.w[0].Data[1]; math.Abs(float64(got-10)) > 1e-3 {
		t.Fatalf("average of a constant 10 after many steps: %v", got)
	}
	if off := newAverager(0); off.decay != 0 || newAverager(1).decay != 0 {
		t.Fatal("decays outside (0, 1) must turn averaging off")
	}
}

// TestTrainEMA: with averaging, the result is the averaged weights, which
// differ from those of the same run without it, and the run is still
// deterministic.
func TestTrainEMA(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 5, 2)
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	opts.EMA = -1
	plain := mustRun(t, opts)
	opts.EMA = 0.9
	if sameWeights(runTwice(t, opts, "EMA runs"), plain) {
		t.Fatal("the averaged weights equal the last step's weights")
	}
}
