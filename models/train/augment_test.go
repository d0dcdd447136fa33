package train

import (
	"context"
	"slices"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
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
	cfg := loadRig(t, "zema-testrig")
	ds, err := LoadUCI(writeSynthetic(t, cfg, 8, 5, 2), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	opts.ValFraction = -1
	plain, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Shift, opts.Noise, opts.SWA = 2, 0.05, 2
	opts.TargetWeights = map[string]float64{cfg.Targets[0].Name: 2}
	a, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	for i := range a.Weights {
		if !slices.Equal(a.Weights[i].Data, b.Weights[i].Data) {
			t.Fatalf("weight %s differs between augmented runs with one seed", a.Weights[i].Name)
		}
		differs = differs || !slices.Equal(a.Weights[i].Data, plain.Weights[i].Data)
	}
	if !differs {
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
