package gnn

import (
	"bytes"
	"math"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// TestShapesEveryConfig runs the forward pass of a small model for every
// shipped firmware config and checks the output shapes and ranges.
func TestShapesEveryConfig(t *testing.T) {
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"zema-testrig", "skab-testbed", "excavator"} {
		t.Run(name, func(t *testing.T) {
			cfg := rigtest.Shipped(t, name)
			const steps, B = 12, 3
			m, err := New(cfg, steps, Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8, Patch: 4})
			if err != nil {
				t.Fatal(err)
			}
			if m.Nodes != len(cfg.Components) || m.Sensors != len(cfg.ActiveSensors()) {
				t.Fatalf("model has %d nodes %d sensors", m.Nodes, m.Sensors)
			}
			w := InitWeights(m, 1)
			n := B * m.Sensors * steps
			x, mask := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i] = float32(math.Sin(float64(i)))
				mask[i] = 1
			}
			mask[0] = 0
			res, err := Forward(backend, m, w, x, mask)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Health) != B*m.Nodes || len(res.Anomaly) != B*m.Sensors || len(res.Probs) != len(cfg.Targets) {
				t.Fatalf("shapes: health %d anomaly %d targets %d", len(res.Health), len(res.Anomaly), len(res.Probs))
			}
			for _, h := range res.Health {
				if !(h >= 0 && h <= 1) {
					t.Fatalf("health %v outside [0,1]", h)
				}
			}
			for i, tg := range cfg.Targets {
				if len(res.Probs[i]) != B*len(tg.Classes) {
					t.Fatalf("target %s: %d probs, want %d", tg.Name, len(res.Probs[i]), B*len(tg.Classes))
				}
				for b := range B {
					sum := float32(0)
					for c := range len(tg.Classes) {
						sum += res.Probs[i][b*len(tg.Classes)+c]
					}
					if math.Abs(float64(sum-1)) > 1e-5 {
						t.Fatalf("target %s batch %d: probs sum to %v", tg.Name, b, sum)
					}
				}
			}
		})
	}
}

func TestWeightsRoundTrip(t *testing.T) {
	m, err := New(rigtest.Shipped(t, "zema-testrig"), 60, Sizes{})
	if err != nil {
		t.Fatal(err)
	}
	w := InitWeights(m, 7)
	if err := w.Check(m); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := ReadWeights(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Check(m); err != nil {
		t.Fatal(err)
	}
	for i := range w {
		for j := range w[i].Data {
			if w[i].Data[j] != r[i].Data[j] {
				t.Fatalf("%s[%d]: %v != %v", w[i].Name, j, w[i].Data[j], r[i].Data[j])
			}
		}
	}
	if w2 := InitWeights(m, 7); w2[0].Data[3] != w[0].Data[3] {
		t.Fatal("InitWeights is not deterministic")
	}
}

func TestBadConfig(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	for _, tc := range []struct {
		steps int
		sizes Sizes
		want  string
	}{
		{60, Sizes{Patch: 7}, "patch 7"},
		{60, Sizes{Hidden: 10, Heads: 3}, "hidden 10"},
		{0, Sizes{}, "window of 0 steps"},
		// One step, or one patch, leaves the GRU over patches a single
		// step: no temporal encoder at all.
		{1, Sizes{}, "window of 1 steps: the temporal encoder needs at least 2"},
		{1, Sizes{Patch: 1}, "window of 1 steps"},
		{60, Sizes{Patch: 60}, "patch 60 cuts the window's 60 steps into 1 patch(es); the GRU over patches needs at least 2 (a patch of at most 30 steps)"},
		{20, Sizes{Patch: 20}, "patch 20 cuts the window's 20 steps into 1 patch(es)"},
	} {
		if _, err := New(cfg, tc.steps, tc.sizes); err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
			t.Errorf("New(%d, %+v) = %v, want error with %q", tc.steps, tc.sizes, err, tc.want)
		}
	}
	if _, err := NewBackend("tpu"); err == nil {
		t.Error("NewBackend(tpu) did not fail")
	}
}

// TestDefaultPatch: the default patch is the largest of 10, 6, 5, 4, 3,
// 2, 1 that cuts the window into at least MinPatches patches, so a
// 10-step window gets two patches of 5, not one of 10. The shipped
// bundles' windows (20, 30 and 60 steps) keep patches of 10.
func TestDefaultPatch(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	for _, tc := range []struct{ steps, patch int }{
		{60, 10}, {30, 10}, {20, 10}, {12, 6}, {10, 5}, {6, 3}, {5, 1}, {4, 2}, {3, 1}, {2, 1},
	} {
		m, err := New(cfg, tc.steps, Sizes{})
		if err != nil {
			t.Errorf("New(%d steps): %v", tc.steps, err)
			continue
		}
		if m.Sizes.Patch != tc.patch || m.Patches < MinPatches {
			t.Errorf("%d steps: patch %d (%d patches), want patch %d", tc.steps, m.Sizes.Patch, m.Patches, tc.patch)
		}
	}
}

// TestSizes checks the optional parts' weights and that resolved sizes
// give the same model again.
func TestSizes(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	for _, tc := range []struct {
		sizes          Sizes
		window, global bool
		readout        bool
	}{
		{Sizes{}, true, false, false},                       // the default has no rig-level view until models/export writes it
		{Sizes{Window: -1, Global: 8}, false, false, false}, // no window view: no rig-level view either
		{Sizes{Window: 3, Readout: 5, Global: -1, Layers: -1}, true, false, true},
	} {
		m, err := New(cfg, 60, tc.sizes)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := New(cfg, 60, m.Sizes)
		if err != nil {
			t.Fatal(err)
		}
		if m2.Sizes != m.Sizes || m2.NumParams() != m.NumParams() {
			t.Fatalf("%+v: resolving %+v again gave %+v", tc.sizes, m.Sizes, m2.Sizes)
		}
		has := map[string]bool{}
		for _, p := range m.Params() {
			has[p.Name] = true
		}
		if has["enc/window/w"] != tc.window || has["graph/global/w"] != tc.global || has["graph/readout/w"] != tc.readout {
			t.Fatalf("%+v: window %v global %v readout %v", tc.sizes, has["enc/window/w"], has["graph/global/w"], has["graph/readout/w"])
		}
		if tc.sizes.Layers < 0 && has["gat0/wl"] {
			t.Fatal("Layers -1 has GAT weights")
		}
	}
}
