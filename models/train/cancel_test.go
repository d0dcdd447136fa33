package train

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// A run cancelled while it trains returns ctx's error within about one
// step: the tiny model's steps take milliseconds, so well under a second.
func TestRunCancelledMidRunReturnsPromptly(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 4, 1)
	opts := tinyOptions(cfg, ds, 1)
	opts.Epochs = 100_000 // hours: only the cancel ends it
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelled time.Time
	epochs := 0
	opts.OnEpoch = func(Epoch, time.Duration) {
		if epochs++; epochs == 2 {
			// Cancel from elsewhere, in the middle of the next epoch.
			time.AfterFunc(5*time.Millisecond, func() { cancelled = time.Now(); cancel() })
		}
	}
	res, err := Run(ctx, opts, nil)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("Run: result %t, error %v; want context.Canceled and no result", res != nil, err)
	}
	if d := time.Since(cancelled); d > 2*time.Second {
		t.Errorf("Run returned %s after the cancel", d)
	}
}

// A cancel in the last epoch (here in OnEpoch, after its validation) ends
// the run with ctx's error: no result, no last checkpoint, no calibration
// pass over the training set. It used to return the trained result as if
// nothing happened.
func TestRunCancelledInLastEpoch(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 4, 1)
	opts := tinyOptions(cfg, ds, 1)
	opts.Epochs, opts.ValFraction = 1, 0.25
	opts.Out = t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts.OnEpoch = func(Epoch, time.Duration) { cancel() }
	res, err := Run(ctx, opts, nil)
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("Run: result %t, error %v; want context.Canceled and no result", res != nil, err)
	}
	if _, err := os.Stat(filepath.Join(opts.Out, "last.weights")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("last.weights written by a cancelled run (%v)", err)
	}
}

// A context ended before Run ends it before the model is compiled.
func TestRunWithEndedContext(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 4, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, tinyOptions(cfg, ds, 1), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run with an ended context: %v", err)
	}
}

// PredictContext stops with ctx's error once ctx ends (checked before the
// model is compiled and per batch); Predict is PredictContext without one.
func TestPredictContextCancelled(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 4, 1)
	opts := tinyOptions(cfg, ds, 1)
	opts.Epochs = 1
	res := mustRun(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := PredictContext(ctx, cfg, res.Model, res.Weights, res.Spec, ds, "", 8); !errors.Is(err, context.Canceled) {
		t.Fatalf("PredictContext with an ended context: %v", err)
	}
	p, err := Predict(cfg, res.Model, res.Weights, res.Spec, ds, "", 8)
	if err != nil || p.N != ds.Len() {
		t.Fatalf("Predict: %v", err)
	}
}
