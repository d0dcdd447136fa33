package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/report"
	"github.com/hydrognn/hydrognn/models/skab"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/ctxio"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Data kinds Train reads.
const (
	KindUCI  = "uci"
	KindSim  = "sim"
	KindSKAB = "skab"
)

// MaxSeed is the largest training seed Train accepts (2^63-1): a bundle
// manifest records the seed as a signed 64-bit integer
// (bundle.Provenance.Seed), and a larger one would be recorded as a
// negative number, so the bundle could not be reproduced from it.
const MaxSeed = math.MaxInt64

// Kinds lists the data kinds Train reads.
var Kinds = []string{KindUCI, KindSim, KindSKAB}

// Data is a data set folder and its layout.
type Data struct {
	// Kind is KindUCI, KindSim or KindSKAB.
	Kind string
	// Dir is the folder.
	Dir string
	// Label names the data set in the manifest's provenance ("": Kind:Dir).
	Label string
}

// Options configure Train. Zero fields take the defaults stated.
type Options struct {
	// Train are the trainer's settings; Rig and Train are set by Train.
	// Backend "" is the pure-Go backend.
	Train train.Options
	// Bundle are the exporter's settings; Provenance's Dataset, digest,
	// code version, backend, seed, config, start and duration are set by
	// Train (Provenance.Dataset from Data.Label).
	Bundle export.BundleOptions
	// GridHz is the model grid for uci/sim data (0: 1 Hz).
	GridHz float64
	// Steps is the SKAB window length in rows (0: models/skab's default).
	Steps int
	// CodeVersion is recorded in the provenance (the binary's version).
	CodeVersion string
	// Log receives progress lines (nil: none).
	Log io.Writer
	// ReportDir, when set, receives the training report (models/report:
	// report.md, loss.png, accuracy.png).
	ReportDir string
}

// Trained is what Train did.
type Trained struct {
	// Result is the trained model.
	Result *train.Result
	// Written is the bundle written.
	Written *export.Written
	// Digest is the data set's DirDigest.
	Digest string
	// Seconds is train.Run's wall time; Total adds loading and export.
	Seconds, Total float64
	// Report lists the report files written (Options.ReportDir).
	Report []string
}

// Train loads data for cfg, trains with o and writes the bundle to dir.
// uci and sim train every head on the labelled cycles (train.Run); skab
// trains the reconstruction on SKAB's normal data (models/skab) and
// writes an anomaly-only bundle. A seed above MaxSeed is an error before
// any work: the manifest could not record it. ctx stops every phase, not
// only training: hashing the data (per file and per 32 KiB read), loading
// it (per file, cycle, or skab.CtxRows rows of a SKAB file), training
// and fitting the SKAB detector (per step and batch of windows), exporting
// the bundle (per model file and int8 calibration batch) and writing the
// report (per file; report.WriteContext leaves no partial file) return
// ctx's error wrapped once it ends.
func Train(ctx context.Context, cfg *rig.Config, data Data, o Options, dir string) (*Trained, error) {
	if o.Train.Seed > MaxSeed {
		return nil, fmt.Errorf("seed %d is above %d, the largest a bundle manifest's provenance.seed records; use a smaller seed", o.Train.Seed, uint64(MaxSeed))
	}
	start := time.Now()
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if o.GridHz == 0 {
		o.GridHz = 1
	}
	digest, err := DirDigestContext(ctx, data.Dir)
	if err != nil {
		return nil, err
	}
	source := data.Kind + ":" + data.Dir
	opts, bopts := o.Train, o.Bundle
	var res *train.Result
	hyper := map[string]any{}
	switch data.Kind {
	case KindUCI, KindSim:
		ds, err := train.LoadUCIContext(ctx, data.Dir, cfg, o.GridHz)
		if err != nil {
			return nil, err
		}
		ds.Source = source
		fmt.Fprintf(log, "train: %s: %d cycles from %s (%s)\n", cfg.RigType, ds.Len(), ds.Source, digest[:19])
		opts.Rig, opts.Train = cfg, ds
		if res, err = train.Run(ctx, opts, log); err != nil {
			return nil, err
		}
	case KindSKAB:
		if res, hyper, err = trainSKAB(ctx, log, cfg, data.Dir, digest, opts, o.Steps); err != nil {
			return nil, err
		}
		bopts.AnomalyOnly = true
	default:
		return nil, fmt.Errorf("data kind %q: want uci, sim or skab", data.Kind)
	}
	backend := opts.Backend
	if backend == "" {
		backend = "go"
	}
	label := data.Label
	if label == "" {
		label = source
	}
	config := export.Hyperparameters(opts, res)
	for k, v := range hyper {
		config[k] = v
	}
	// The settings that are not the trainer's: the model grid (uci, sim)
	// and the int8 scheme, so that the provenance (and the registry's
	// lineage, which compare diffs) names every setting of the run.
	if data.Kind != KindSKAB {
		config[ConfigGridHz] = o.GridHz
	}
	config[ConfigInt8] = Int8Name(bopts)
	bopts.Provenance = bundle.Provenance{
		Dataset: label, DatasetDigest: digest, CodeVersion: o.CodeVersion, Backend: backend,
		Seed: int64(opts.Seed), Config: config,
		StartedAt: start.UTC().Truncate(time.Second), DurationS: roundTo(time.Since(start).Seconds(), 0.1),
	}
	w, err := export.WriteBundleContext(ctx, dir, cfg, res, bopts)
	if err != nil {
		return nil, err
	}
	t := &Trained{Result: res, Written: w, Digest: digest, Seconds: res.Seconds, Total: time.Since(start).Seconds()}
	if o.ReportDir != "" {
		if t.Report, err = report.WriteContext(ctx, o.ReportDir, report.Input{
			Title: w.Manifest.Name + " " + w.Manifest.Version, Rig: cfg, Result: res,
			Notes: []string{"data: " + label + " (" + digest + ")", "bundle: " + dir, "backend: " + backend,
				fmt.Sprintf("seed: %d", opts.Seed)},
		}); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Keys of provenance.config that Train adds to export.Hyperparameters.
const (
	// ConfigGridHz is the model grid in Hz (uci and sim data).
	ConfigGridHz = "grid_hz"
	// ConfigInt8 is the int8 scheme (Int8Name).
	ConfigInt8 = "int8"
)

// Int8Name names b's int8 scheme as `rigctl train --int8` and a training
// job's config do: "none" (fp32 only), "dynamic" or "weight-only" (the
// default).
func Int8Name(b export.BundleOptions) string {
	switch {
	case b.NoInt8:
		return "none"
	case b.Scheme == onnx.Dynamic:
		return "dynamic"
	}
	return "weight-only"
}

// trainSKAB trains the SKAB model (models/skab: the GNN's reconstruction
// on the anomaly-free run and the first skab.CalibRows rows of every
// experiment file, each calibrated on its own first rows; labels never
// read), fits its detector on the same normal data, and returns a result
// ready for export: input spec = the anomaly-free run's calibration
// composed with the trainer's statistics (one prep pass over raw
// readings), anomaly thresholds = the detector's per-sensor error
// thresholds. The detector's smoothing and level term are not part of
// the ONNX graph; the bundle's anomaly head is the per-window error.
func trainSKAB(ctx context.Context, log io.Writer, cfg *rig.Config, dir, digest string, opts train.Options, steps int) (*train.Result, map[string]any, error) {
	set, err := skab.LoadDirContext(ctx, dir, cfg)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(log, "train: %s: %d anomaly-free and %d experiment files from skab:%s (%s)\n",
		cfg.RigType, len(set.Free), len(set.Experiments), dir, digest[:19])
	m, err := skab.Train(ctx, cfg, set, skab.Options{Steps: steps, Sizes: opts.Sizes, Epochs: opts.Epochs, BatchSize: opts.BatchSize,
		LR: opts.LR, Seed: opts.Seed, Backend: opts.Backend}, log)
	if err != nil {
		return nil, nil, err
	}
	if err := m.FitDetectorContext(ctx, set, skab.DetectorOptions{}); err != nil {
		return nil, nil, err
	}
	return SKABExport(m)
}

// SKABModelNormKey is the provenance.config key of a SKAB bundle's model
// normalisation (SKABNorm): the trainer's own per-sensor mean and std of
// calibrated values, which the input spec composes with the anomaly-free
// run's calibration. An edge agent recomposes it with its own
// calibration (agent/infer.Detector).
const SKABModelNormKey = "skab_model_norm"

// SKABNorm is a model's own normalisation of calibrated values, per
// sensor in input order.
type SKABNorm struct {
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
}

// SKABExport returns what the exporter needs for a trained, fitted SKAB
// model: its result with the input spec composed with the anomaly-free
// run's calibration and the detector's error thresholds, and the
// provenance entries skab_options, skab_detector and skab_model_norm.
func SKABExport(m *skab.Model) (*train.Result, map[string]any, error) {
	var err error
	norm := SKABNorm{}
	for _, s := range m.Result.Spec.Sensors {
		norm.Mean, norm.Std = append(norm.Mean, s.Mean), append(norm.Std, s.Std)
	}
	res := *m.Result
	if res.Spec, err = skab.Compose(m.FreeCalib, m.Result.Spec); err != nil {
		return nil, nil, err
	}
	res.AnomalyThreshold = m.Thresholds()
	// The detector's thresholds follow another rule than train.Run's
	// quantile over these windows: the exporter must not recalibrate the
	// int8 file's with that rule (both files use the head's).
	res.Calibration = nil
	return &res, map[string]any{"skab_options": m.Options, "skab_detector": m.Detector, SKABModelNormKey: norm}, nil
}

func roundTo(v, unit float64) float64 { return math.Round(v/unit) / math.Round(1/unit) }

// DirDigest is "sha256:" over the relative paths and contents of the
// regular files under dir (recursively, in lexical order): what the
// loaders read. The same folder gives the same digest wherever it lies.
func DirDigest(dir string) (string, error) {
	return DirDigestContext(context.Background(), dir)
}

// DirDigestContext is DirDigest stopped by ctx: it checks ctx before each
// file and every 32 KiB read, and returns ctx's error wrapped (naming the
// file) once ctx ends.
func DirDigestContext(ctx context.Context, dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(h, "%s\x00", filepath.ToSlash(rel))
		if _, err = io.Copy(h, ctxio.Reader(ctx, f)); err != nil {
			return fmt.Errorf("hash %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}
