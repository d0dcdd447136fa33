package train

import (
	"context"
	"slices"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

func TestAugmenterShift(t *testing.T) {
	const S, T = 2, 5
	x := []float32{1, 2, 3, 4, 5, 10, 20, 30, 40, 50}
	m := []float32{1, 1, 0, 1, 1, 1, 1, 1, 1, 0}
	dx, dm := make([]float32, S*T), make([]float32, S*T)

	plain := newAugmenter(0, 0, S, T, newRand(1, 6))
	plain.window(dx, dm, x, m)
	if !slices.Equal(dx, x) || !slices.Equal(dm, m) {
		t.Fatalf("no augmentation: got %v %v, want a copy", dx, dm)
	}

	a := newAugmenter(2, 0, S, T, newRand(1, 6))
	seen := map[int]bool{}
	for range 200 {
		a.window(dx, dm, x, m)
		// Identify the shift by the first row and check every cell.
		d := -99
		for c := -2; c <= 2; c++ {
			ok := true
			for s := range S {
				for tt := range T {
					src := s*T + min(max(tt-c, 0), T-1)
					if dx[s*T+tt] != x[src] || dm[s*T+tt] != m[src] {
						ok = false
					}
				}
			}
			if ok {
				d = c
				break
			}
		}
		if d == -99 {
			t.Fatalf("window %v / mask %v is no edge-padded shift of %v / %v by -2..2", dx, dm, x, m)
		}
		seen[d] = true
	}
	if len(seen) != 5 {
		t.Fatalf("shifts drawn: %v, want all of -2..2", seen)
	}

	n := newAugmenter(0, 0.5, S, T, newRand(1, 6))
	n.window(dx, dm, x, m)
	for i := range dx {
		if (m[i] > 0) == (dx[i] == x[i]) || dm[i] != m[i] {
			t.Fatalf("cell %d: noise must change exactly the observed cells (got %v, mask %v)", i, dx, dm)
		}
	}
}

func TestSWAAverage(t *testing.T) {
	var s swaAverage
	for _, v := range []float32{1, 2, 6} {
		s.add(gnn.Weights{{Name: "a", Shape: []int{1}, Data: []float32{v}}})
	}
	if got := s.mean()[0].Data[0]; got != 3 {
		t.Fatalf("mean of 1, 2, 6: %v", got)
	}
}

// TestTrainAugmentation: shift, noise, SWA and target weights change the
// result and keep the run deterministic; bad values are errors.
func TestTrainAugmentation(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 5, 2)
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	opts.ValFraction = -1
	plain := mustRun(t, opts)
	opts.Shift, opts.Noise, opts.SWA = 2, 0.05, 2
	opts.TargetWeights = map[string]float64{cfg.Targets[0].Name: 2}
	if sameWeights(runTwice(t, opts, "augmented runs"), plain) {
		t.Fatal("augmentation did not change the weights")
	}
	for _, bad := range []func(o *Options){
		func(o *Options) { o.Shift = -1 },
		func(o *Options) { o.Noise = -1 },
		func(o *Options) { o.TargetWeights = map[string]float64{"nope": 1} },
		func(o *Options) { o.TargetWeights = map[string]float64{cfg.Targets[0].Name: 0} },
	} {
		o := opts
		bad(&o)
		if _, err := Run(context.Background(), o, nil); err == nil {
			t.Fatal("bad augmentation option accepted")
		}
	}
}

// TestAugmenterDropout: dropout masks the flagged rows whole (value and
// mask 0) or leaves them as they were, never touches another row, draws
// the same masks for the same seed, and leaves the shifts and noise of
// the augmenter's own stream as they were without it.
func TestAugmenterDropout(t *testing.T) {
	const S, T = 3, 4
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	m := []float32{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1}
	dx, dm := make([]float32, S*T), make([]float32, S*T)
	ex, em := make([]float32, S*T), make([]float32, S*T)
	px, pm := make([]float32, S*T), make([]float32, S*T)

	a := newAugmenter(1, 0.1, S, T, newRand(3, 6)).withDropout([]int{0, 2}, 0.5, newRand(3, 7))
	b := newAugmenter(1, 0.1, S, T, newRand(3, 6)).withDropout([]int{0, 2}, 0.5, newRand(3, 7))
	plain := newAugmenter(1, 0.1, S, T, newRand(3, 6))
	dropped := map[int]int{}
	for range 200 {
		a.window(dx, dm, x, m)
		b.window(ex, em, x, m)
		plain.window(px, pm, x, m)
		if !slices.Equal(dx, ex) || !slices.Equal(dm, em) {
			t.Fatal("two augmenters with one seed drew different windows")
		}
		for s := range S {
			row := func(v []float32) []float32 { return v[s*T : (s+1)*T] }
			zero := make([]float32, T)
			if slices.Equal(row(dm), zero) && slices.Equal(row(dx), zero) && !slices.Equal(row(pm), zero) {
				if s == 1 {
					t.Fatalf("row 1 is not flagged but was masked: %v", dm)
				}
				dropped[s]++
				continue
			}
			if !slices.Equal(row(dx), row(px)) || !slices.Equal(row(dm), row(pm)) {
				t.Fatalf("row %d: kept rows must be the plain augmenter's (shift and noise unchanged): %v vs %v", s, dx, px)
			}
		}
	}
	for _, s := range []int{0, 2} {
		if dropped[s] < 60 || dropped[s] > 140 {
			t.Fatalf("row %d masked in %d of 200 windows, want about 100", s, dropped[s])
		}
	}

	off := newAugmenter(0, 0, S, T, newRand(3, 6)).withDropout([]int{0}, 0, newRand(3, 7))
	off.window(dx, dm, x, m)
	if !slices.Equal(dx, x) || !slices.Equal(dm, m) {
		t.Fatalf("p 0: got %v %v, want a copy", dx, dm)
	}
}

// TestTrainSensorDropout: a tiny run on a rig with a may_drop_out sensor
// trains with it masked in some windows (deterministic for a seed) and
// says so in Result.DropoutSensors; SensorDropout < 0 turns it off; a rig
// without the flag trains exactly as before, so bundles of configs that
// set no flag are unchanged.
func TestTrainSensorDropout(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 5, 2)
	flagged := *cfg
	flagged.Sensors = slices.Clone(cfg.Sensors)
	for i := range flagged.Sensors {
		if flagged.Sensors[i].ID == "SE" {
			flagged.Sensors[i].MayDropOut = true
		}
	}
	if err := flagged.Validate(); err != nil {
		t.Fatal(err)
	}
	run := func(c *rig.Config, p float64) *Result {
		t.Helper()
		opts := tinyOptions(c, ds, 11)
		opts.Epochs, opts.ValFraction, opts.SensorDropout = 2, -1, p
		return mustRun(t, opts)
	}
	plain := run(cfg, 0)
	if len(plain.DropoutSensors) != 0 {
		t.Fatalf("no sensor flagged, DropoutSensors %v", plain.DropoutSensors)
	}
	a, b := run(&flagged, 0), run(&flagged, 0)
	if !slices.Equal(a.DropoutSensors, []string{"SE"}) {
		t.Fatalf("DropoutSensors %v, want [SE]", a.DropoutSensors)
	}
	if !sameWeights(a, b) {
		t.Fatal("dropout runs with one seed differ")
	}
	if sameWeights(a, plain) {
		t.Fatal("dropout did not change the weights")
	}
	off := run(&flagged, -1)
	if len(off.DropoutSensors) != 0 || !sameWeights(off, plain) {
		t.Fatalf("SensorDropout -1: DropoutSensors %v, want none and the plain run's weights", off.DropoutSensors)
	}
	opts := tinyOptions(&flagged, ds, 11)
	opts.SensorDropout = 1
	if _, err := Run(context.Background(), opts, nil); err == nil {
		t.Fatal("SensorDropout 1 accepted")
	}
}
