package update

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// gridWindows makes windows of raw readings (sensor units) around each
// sensor's mean in around (the running bundle's input spec), with a
// little noise, and prepares them with whatever spec is asked for, as the
// service's windows from the reading buffer do: the raw readings of a
// sensor are the same for every spec, only their preparation
// (normalisation, holds) is the spec's. drop, when set, names a sensor
// left without data in window i ("" none).
type gridWindows struct {
	n      int
	around prep.Spec
	drop   func(i int) string
}

func (g gridWindows) Recent(_ context.Context, spec prep.Spec, n int) ([]*prep.Window, error) {
	raw := make(map[string]prep.SensorSpec, len(g.around.Sensors))
	for _, ss := range g.around.Sensors {
		raw[ss.ID] = ss
	}
	var out []*prep.Window
	for i := range min(n, g.n) {
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			r, ok := raw[ss.ID]
			if !ok {
				return nil, fmt.Errorf("gridWindows: no readings of sensor %s", ss.ID)
			}
			// Seeded by window and sensor: the same readings whatever
			// the spec's sensor order.
			rng := rand.New(rand.NewPCG(uint64(i), uint64(seedOf(ss.ID))))
			grid[s] = make([]float64, spec.Steps)
			for t := range grid[s] {
				grid[s][t] = r.Mean + 0.1*r.Std*rng.NormFloat64()
				if g.drop != nil && g.drop(i) == ss.ID {
					grid[s][t] = math.NaN()
				}
			}
		}
		w, err := prep.FromGrid(spec, grid)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// seedOf hashes a sensor id into a seed.
func seedOf(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

// inputSpec is the input spec of the bundle in dir.
func inputSpec(t testing.TB, dir string) prep.Spec {
	t.Helper()
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m.Input
}

func TestModelCanary(t *testing.T) {
	cfg, bundleDir, opts := skabCanary(t)
	spec := inputSpec(t, bundleDir)
	// The same model staged as running: it passes.
	c := &ModelCanary{Rig: cfg, Options: opts, Windows: gridWindows{around: spec, n: 16}, MaxLatency: time.Second}
	if err := c.Check(t.Context(), bundleDir, bundleDir); err != nil {
		t.Fatal(err)
	}
	// The windows are healthy ones, so the agreement was judged.
	m, err := infer.Open(bundleDir, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ws, _ := gridWindows{around: spec, n: 16}.Recent(t.Context(), m.Spec(), 16)
	healthy := 0
	for _, w := range ws {
		if d, _, err := diagnose(m, w); err == nil && calm(d) {
			healthy++
		}
	}
	if healthy == 0 {
		t.Errorf("no healthy window: the agreement was not tested")
	}
	cases := []struct {
		name   string
		canary ModelCanary
		staged string
		is     error
		msg    string
	}{
		{"too few windows", ModelCanary{Windows: gridWindows{around: spec, n: 3}}, bundleDir, ErrNoWindows, "3 recent windows, the canary needs 8"},
		{"too slow", ModelCanary{Windows: gridWindows{around: spec, n: 16}, MaxLatency: time.Nanosecond}, bundleDir, ErrCanary, "95th percentile inference time"},
		{"another rig's bundle", ModelCanary{Windows: gridWindows{around: spec, n: 16}}, filepath.Join(filepath.Dir(bundleDir), "zema-testrig"), ErrCanary, "open staged bundle"},
	}
	// A staged model whose anomaly thresholds are a thousand times lower
	// calls the same windows anomalous.
	touchy := testBundle(t, "1.0.1", func(m *bundle.Manifest) {
		for i := range m.Heads {
			for j := range m.Heads[i].Thresholds {
				m.Heads[i].Thresholds[j] /= 1000
			}
		}
	})
	cases = append(cases, struct {
		name   string
		canary ModelCanary
		staged string
		is     error
		msg    string
	}{"disagrees", ModelCanary{Windows: gridWindows{around: spec, n: 16}}, touchy, ErrCanary, "of the 16 windows the running model calls healthy, the staged model calls 0 healthy"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.canary
			c.Rig, c.Options = cfg, opts
			err := c.Check(t.Context(), tc.staged, bundleDir)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v, want %v with %q", err, tc.is, tc.msg)
			}
		})
	}
}

// TestModelCanarySkipsWindowsMissingRequiredSensors: a window in which a
// sensor the bundle was not trained to do without is missing is no canary
// observation (the model judges no class target and no component's
// health there, so "healthy" would be the anomaly scores' alone): with
// fewer than MinWindows judgeable windows the canary waits
// (ErrNoWindows), and the staged model is judged on the others only.
func TestModelCanarySkipsWindowsMissingRequiredSensors(t *testing.T) {
	cfg, bundleDir, opts := skabCanary(t)
	spec := inputSpec(t, bundleDir)
	m, err := infer.Open(bundleDir, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// The shipped bundle was trained without sensor dropout: every input
	// sensor is required.
	sensor := m.Spec().Sensors[0].ID
	if ws, _ := (gridWindows{around: spec, n: 1, drop: func(int) string { return sensor }}).Recent(t.Context(), m.Spec(), 1); len(m.RequiredMissing(ws[0])) == 0 {
		t.Fatalf("%s missing is not a required sensor missing: the test needs one", sensor)
	}

	// Every window misses a required sensor: nothing to judge by, the
	// canary waits (the old canary judged all 16 on anomaly scores).
	c := &ModelCanary{Rig: cfg, Options: opts, MaxLatency: time.Second,
		Windows: gridWindows{around: spec, n: 16, drop: func(int) string { return sensor }}}
	err = c.Check(t.Context(), bundleDir, bundleDir)
	if !errors.Is(err, ErrNoWindows) || !strings.Contains(err.Error(), "16 without a required sensor ("+sensor+") not judged") {
		t.Errorf("every window missing %s: got %v, want ErrNoWindows naming the sensor", sensor, err)
	}

	// A staged model that calls everything anomalous, on windows of which
	// 12 miss the sensor: only the 4 judgeable ones count, too few.
	touchy := testBundle(t, "1.0.1", func(m *bundle.Manifest) {
		for i := range m.Heads {
			for j := range m.Heads[i].Thresholds {
				m.Heads[i].Thresholds[j] /= 1000
			}
		}
	})
	mostly := func(i int) string {
		if i%4 != 0 {
			return sensor
		}
		return ""
	}
	c.Windows = gridWindows{around: spec, n: 16, drop: mostly}
	err = c.Check(t.Context(), touchy, bundleDir)
	if !errors.Is(err, ErrNoWindows) || !strings.Contains(err.Error(), "12 without a required sensor") {
		t.Errorf("4 judgeable windows: got %v, want ErrNoWindows", err)
	}
	// With 4 enough, the staged model is judged on those 4 and fails.
	c.MinWindows = 4
	err = c.Check(t.Context(), touchy, bundleDir)
	if !errors.Is(err, ErrCanary) || !strings.Contains(err.Error(), "of the 4 windows the running model calls healthy, the staged model calls 0 healthy") {
		t.Errorf("4 judgeable windows, MinWindows 4: got %v, want ErrCanary judged on 4 windows", err)
	}
}
