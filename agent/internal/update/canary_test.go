package update

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// gridWindows makes windows around each sensor's mean, with a little
// noise, for any spec.
type gridWindows struct{ n int }

func (g gridWindows) Recent(_ context.Context, spec prep.Spec, n int) ([]*prep.Window, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var out []*prep.Window
	for range min(n, g.n) {
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = make([]float64, spec.Steps)
			for t := range grid[s] {
				grid[s][t] = ss.Mean + 0.1*ss.Std*rng.NormFloat64()
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

func TestModelCanary(t *testing.T) {
	if os.Getenv(infer.LibraryEnv) == "" {
		t.Skip("ONNXRUNTIME_LIB is not set: `export ONNXRUNTIME_LIB=$(deploy/dev/onnxruntime.sh)` from the repository root")
	}
	root := filepath.Join("..", "..", "..")
	cfg, err := rig.Load(filepath.Join(root, "firmware-configs", "skab-testbed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bundleDir := filepath.Join(root, "models", "bundles", "skab-testbed")
	opts := infer.Options{Logger: slog.New(slog.DiscardHandler)}
	// The same model staged as running: it passes.
	c := &ModelCanary{Rig: cfg, Options: opts, Windows: gridWindows{n: 16}, MaxLatency: time.Second}
	if err := c.Check(t.Context(), bundleDir, bundleDir); err != nil {
		t.Fatal(err)
	}
	// The windows are healthy ones, so the agreement was judged.
	m, err := infer.Open(bundleDir, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ws, _ := gridWindows{n: 16}.Recent(t.Context(), m.Spec(), 16)
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
		{"too few windows", ModelCanary{Windows: gridWindows{n: 3}}, bundleDir, ErrNoWindows, "3 recent windows, the canary needs 8"},
		{"too slow", ModelCanary{Windows: gridWindows{n: 16}, MaxLatency: time.Nanosecond}, bundleDir, ErrCanary, "95th percentile inference time"},
		{"another rig's bundle", ModelCanary{Windows: gridWindows{n: 16}}, filepath.Join(root, "models", "bundles", "zema-testrig"), ErrCanary, "open staged bundle"},
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
	}{"disagrees", ModelCanary{Windows: gridWindows{n: 16}}, touchy, ErrCanary, "of the 16 windows the running model calls healthy, the staged model calls 0 healthy"})
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
