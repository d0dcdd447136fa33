package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func zema(t testing.TB) *rig.Config {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	cfg, err := rig.Load(filepath.Join(filepath.Dir(file), "..", "..", "firmware-configs", "zema-testrig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// A tiny run writes a bundle whose provenance names the data set, its
// digest and the code version; OnEpoch sees every epoch.
func TestTrainWritesBundle(t *testing.T) {
	cfg := zema(t)
	data := t.TempDir()
	if err := traintest.WriteUCI(data, cfg, 8, 4, 1); err != nil {
		t.Fatal(err)
	}
	var epochs []int
	var log bytes.Buffer
	o := pipeline.Options{
		Train: train.Options{Epochs: 2, Patience: -1, BatchSize: 8, Seed: 1,
			Sizes:   gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8},
			OnEpoch: func(ep train.Epoch, eta time.Duration) { epochs = append(epochs, ep.Epoch) }},
		Bundle:      export.BundleOptions{NoInt8: true},
		CodeVersion: "test-1",
		Log:         &log,
	}
	out := t.TempDir()
	tr, err := pipeline.Train(context.Background(), cfg, pipeline.Data{Kind: pipeline.KindSim, Dir: data, Label: "synthetic"}, o, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 2 || epochs[1] != 2 {
		t.Errorf("OnEpoch saw %v, want [1 2]", epochs)
	}
	digest, err := pipeline.DirDigest(data)
	if err != nil {
		t.Fatal(err)
	}
	p := tr.Written.Manifest.Provenance
	if p.Dataset != "synthetic" || p.DatasetDigest != digest || tr.Digest != digest || p.CodeVersion != "test-1" || p.Backend != "go" {
		t.Errorf("provenance %+v, digest %s", p, digest)
	}
	m, err := bundle.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.RigType != cfg.RigType {
		t.Errorf("rig type %q", m.RigType)
	}
	if _, err := os.Stat(filepath.Join(out, export.FileFP32)); err != nil {
		t.Error(err)
	}
	if !strings.Contains(log.String(), "epoch 2/2") {
		t.Errorf("progress: %s", log.String())
	}
	if _, err := pipeline.Train(context.Background(), cfg, pipeline.Data{Kind: "csv", Dir: data}, o, out); err == nil {
		t.Error("unknown kind accepted")
	}
}

// A seed the manifest cannot record (2^63 or more; provenance.seed is an
// int64) is refused before training; the old code trained and recorded
// it as a negative number. The largest recordable seed is kept exactly.
func TestTrainSeedRange(t *testing.T) {
	cfg := zema(t)
	data := t.TempDir()
	if err := traintest.WriteUCI(data, cfg, 8, 4, 1); err != nil {
		t.Fatal(err)
	}
	o := pipeline.Options{
		Train: train.Options{Epochs: 1, Patience: -1, BatchSize: 8, Seed: 1 << 63,
			Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}},
		Bundle: export.BundleOptions{NoInt8: true},
	}
	out := t.TempDir()
	tr, err := pipeline.Train(context.Background(), cfg, pipeline.Data{Kind: pipeline.KindSim, Dir: data}, o, out)
	if err == nil {
		t.Fatalf("seed 2^63 accepted, recorded as %d", tr.Written.Manifest.Provenance.Seed)
	}
	if !strings.Contains(err.Error(), "seed 9223372036854775808") {
		t.Errorf("error %q does not name the seed", err)
	}
	o.Train.Seed = pipeline.MaxSeed
	tr, err = pipeline.Train(context.Background(), cfg, pipeline.Data{Kind: pipeline.KindSim, Dir: data}, o, out)
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Written.Manifest.Provenance.Seed; uint64(got) != pipeline.MaxSeed || got < 0 {
		t.Errorf("seed recorded as %d, want %d", got, uint64(pipeline.MaxSeed))
	}
}

// A cancelled context stops each phase of Train, not only training:
// hashing the data, loading it and exporting the bundle return
// context.Canceled at once (a cancel or SIGTERM waited for all of them
// on a large data set), and Train stops before it loads the data.
func TestCancelStopsEveryPhase(t *testing.T) {
	cfg := zema(t)
	data := t.TempDir()
	if err := traintest.WriteUCI(data, cfg, 8, 4, 1); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	if _, err := pipeline.DirDigestContext(cancelled, data); !errors.Is(err, context.Canceled) {
		t.Errorf("hash: error %v, want context.Canceled", err)
	}
	if _, err := train.LoadUCIContext(cancelled, data, cfg, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("load: error %v, want context.Canceled", err)
	}

	var log bytes.Buffer
	o := pipeline.Options{
		Train: train.Options{Epochs: 1, Patience: -1, BatchSize: 8, Seed: 1,
			Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}},
		Log: &log,
	}
	_, err := pipeline.Train(cancelled, cfg, pipeline.Data{Kind: pipeline.KindSim, Dir: data}, o, t.TempDir())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("train: error %v, want context.Canceled", err)
	}
	if strings.Contains(log.String(), "cycles from") {
		t.Errorf("Train loaded the data after its context ended:\n%s", log.String())
	}

	// Export, with int8 (its calibration runs the model over the
	// training windows): nothing is written.
	ds, err := train.LoadUCI(data, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := o.Train
	opts.Rig, opts.Train = cfg, ds
	res, err := train.Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bundle")
	if _, err := export.WriteBundleContext(cancelled, out, cfg, res, export.BundleOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("export: error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("export wrote %s after its context ended (stat: %v)", out, err)
	}
}
