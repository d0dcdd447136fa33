package skab

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/skab"
)

// endsAfter is a context whose Err is context.Canceled from its n+1th
// call on: a cancel that arrives at a known point of a read.
type endsAfter struct {
	context.Context
	n atomic.Int32
}

func (c *endsAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// A cancel that arrives while a large file is read stops LoadDirContext
// within skab.CtxRows lines of it, not after the whole file.
func TestLoadDirContextStopsWithinAFile(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "anomaly-free", AnomalyFreeName)
	writeSynthetic(t, path, 3*skab.CtxRows, 0, 0, false, 1)
	if _, err := LoadDirContext(context.Background(), dir, cfg); err != nil {
		t.Fatal(err)
	}
	// Checks before the file, before it is opened and before its first
	// line pass; the one after skab.CtxRows lines sees the cancel.
	ctx := &endsAfter{Context: context.Background()}
	ctx.n.Store(3)
	_, err := LoadDirContext(ctx, dir, cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want context.Canceled", err)
	}
	if want := path + " line 1025"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
}

// Fitting the detector runs the model over every calibration block: a
// cancel stops it (per batch of windows) with ctx's error, and leaves the
// model's detector as it was.
func TestFitDetectorContextCancelled(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	writeSynthetic(t, filepath.Join(dir, "anomaly-free", AnomalyFreeName), 240, 0, 0, false, 1)
	writeSynthetic(t, filepath.Join(dir, "valve1", "1.csv"), 200, 110, 170, true, 2)
	set, err := LoadDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	o, do := tinyOptions()
	m, err := Train(context.Background(), cfg, set, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.FitDetectorContext(ctx, set, do); !errors.Is(err, context.Canceled) {
		t.Fatalf("FitDetectorContext with an ended context: %v", err)
	}
	if m.Detector.Steps != 0 {
		t.Errorf("detector set by a cancelled fit: %+v", m.Detector)
	}
	if err := m.FitDetectorContext(context.Background(), set, do); err != nil {
		t.Fatal(err)
	}
}
