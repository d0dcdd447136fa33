package rigctl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func init() {
	register("train", "train the diagnosis model and write a bundle (train --rig FILE --data uci:DIR --out DIR)", runTrain)
}

const trainUsage = `train --rig FIRMWARE.yaml --data uci:DIR|sim:DIR|skab:DIR --out BUNDLE_DIR [flags]

Trains the temporal GNN (models/train) on the data set, exports it to ONNX
(fp32 and int8, models/export) and writes a bundle directory:
model.fp32.onnx, model.int8.onnx, manifest.json. Progress (one line per
epoch with validation metrics and an ETA) goes to stderr, a summary to
stdout. uci: is the UCI hydraulic layout, sim: the same layout written by
rigsim dataset; both train every head on the labelled cycles. skab: is a
SKAB folder: the reconstruction is trained on its normal data only
(models/skab) and the bundle has the anomaly head alone.

Sensors the config marks may_drop_out have their whole window masked in
a training window with probability --sensor-dropout (default 0.2; 0 or
negative: off), so the model learns to judge without them; the bundle
lists them as provenance.config.dropout_sensors, with sensor_dropout
(docs/model.md). Configs that flag no sensor train without dropout.`

// trainFlags are the training settings shared by train and bench uci.
type trainFlags struct {
	epochs, patience, batch int
	seed                    uint64
	lr, ema                 float64
	sensorDropout           float64
	backend                 string
	sizes                   string
	gridHz                  float64
	scheme                  string
	name, version           string
	checkpoints             string
	datasetLabel            string
	report                  string
	steps                   int
}

func (f *trainFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&f.epochs, "epochs", 0, "maximum epochs (0: the trainer's default, 60)")
	fs.IntVar(&f.patience, "patience", 0, "early-stopping patience in epochs (0: 20; -1: never stop early)")
	fs.IntVar(&f.batch, "batch", 0, "batch size (0: 32)")
	seedVar(fs, &f.seed, 1, "random seed (weights, validation split, batch order; 0.."+strconv.FormatUint(pipeline.MaxSeed, 10)+")")
	fs.Float64Var(&f.lr, "lr", 0, "peak learning rate (0: 3e-3)")
	fs.Float64Var(&f.ema, "ema", 0, "decay of the moving average of the weights that is validated and shipped (0: 0.99; -1: off)")
	fs.Float64Var(&f.sensorDropout, "sensor-dropout", 0.2, "probability `P` in [0, 1) of masking the whole window of a sensor the config marks may_drop_out in a training window, so the model learns to judge without it (0 or negative: off; recorded as provenance.config.sensor_dropout)")
	fs.StringVar(&f.backend, "backend", "go", `GoMLX backend: "go" (pure Go), "xla:cpu", "xla:cuda" or "xla:/abs/plugin.so" (cgo builds)`)
	fs.StringVar(&f.sizes, "sizes", "", `model sizes as JSON, e.g. '{"hidden":16,"layers":1}' (fields of gnn.Sizes; omitted: defaults)`)
	fs.Float64Var(&f.gridHz, "grid-hz", 1, "model grid rate in Hz (cycles are resampled onto it)")
	fs.StringVar(&f.scheme, "int8", "weight-only", "int8 scheme: weight-only (QDQ, folded at load), dynamic, or none (fp32 only)")
	fs.StringVar(&f.name, "name", "", "bundle name (default: the rig type)")
	fs.StringVar(&f.version, "version", export.DefaultVersion, "bundle version (semantic)")
	fs.StringVar(&f.checkpoints, "checkpoints", "", "folder for the trainer's checkpoints and history.json (default: none)")
	fs.IntVar(&f.steps, "steps", 0, "skab: window length in rows (0: models/skab's default); uci/sim windows are whole cycles")
	fs.StringVar(&f.report, "report", "", "write the training report (report.md, loss.png, accuracy.png) to this `DIR` (train: default BUNDLE_DIR/report, none: no report; bench uci: no report unless given)")
	fs.StringVar(&f.datasetLabel, "dataset-label", "", "the data set as the manifest's provenance names it (default: the --data reference), e.g. how it was generated")
}

// options turns the flags into trainer options (Rig and Train unset).
func (f *trainFlags) options() (train.Options, error) {
	o := train.Options{Epochs: f.epochs, Patience: f.patience, BatchSize: f.batch, Seed: f.seed, LR: f.lr,
		EMA: f.ema, Backend: f.backend, Out: f.checkpoints}
	switch {
	case o.Backend == "go":
		o.Backend = ""
	case strings.HasPrefix(o.Backend, "xla:") && len(o.Backend) > 4:
	default:
		return o, fmt.Errorf("--backend %q: want go, xla:cpu, xla:cuda or xla:/abs/path/plugin.so", f.backend)
	}
	if f.sizes != "" {
		dec := json.NewDecoder(strings.NewReader(f.sizes))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o.Sizes); err != nil {
			return o, fmt.Errorf("--sizes %s: %v (fields: %s)", f.sizes, err, sizeFields())
		}
	}
	if f.ema >= 1 {
		return o, fmt.Errorf("--ema %v: want a decay below 1 (0: the default, negative: off)", f.ema)
	}
	switch p := f.sensorDropout; {
	case math.IsNaN(p) || p >= 1:
		return o, fmt.Errorf("--sensor-dropout %v: want a probability in [0, 1) (0 or negative: off)", p)
	case p <= 0:
		// Off: train.Options' 0 is its default (0.2).
		o.SensorDropout = -1
	default:
		o.SensorDropout = p
	}
	if f.epochs < 0 || f.batch < 0 || f.lr < 0 || f.steps < 0 || !(f.gridHz > 0) {
		return o, fmt.Errorf("--epochs, --batch, --lr and --steps must not be negative and --grid-hz must be > 0")
	}
	return o, nil
}

// seedFlag is a --seed flag's value: a whole number of at most
// pipeline.MaxSeed (2^63-1), the largest a bundle manifest's
// provenance.seed records. A larger seed is refused while the flags are
// parsed, a usage error naming the flag and the maximum, before any work
// (pipeline.Train and rig-cloud's jobs refuse it too).
type seedFlag struct{ p *uint64 }

// seedVar defines the --seed flag of fs, stored in p (value: its default).
func seedVar(fs *flag.FlagSet, p *uint64, value uint64, usage string) {
	*p = value
	fs.Var(seedFlag{p}, "seed", usage)
}

func (s seedFlag) String() string {
	if s.p == nil {
		return "0"
	}
	return strconv.FormatUint(*s.p, 10)
}

func (s seedFlag) Set(v string) error {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > pipeline.MaxSeed {
		return fmt.Errorf("want a whole number 0..%d (a bundle manifest records the seed as a signed 64-bit integer)", uint64(pipeline.MaxSeed))
	}
	*s.p = n
	return nil
}

// sizeFields lists gnn.Sizes' JSON names.
func sizeFields() string {
	b, _ := json.Marshal(gnn.Sizes{})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (f *trainFlags) bundleOptions() (export.BundleOptions, error) {
	o := export.BundleOptions{Name: f.name, Version: f.version, Provenance: bundle.Provenance{Dataset: f.datasetLabel}}
	switch f.scheme {
	case "weight-only", "weight-qdq", "":
		o.Scheme = onnx.WeightOnly
	case "dynamic":
		o.Scheme = onnx.Dynamic
	case "none":
		o.NoInt8 = true
	default:
		return o, fmt.Errorf("--int8 %q: want weight-only, dynamic or none", f.scheme)
	}
	return o, nil
}

func runTrain(ctx context.Context, env Env, args []string) int {
	fs := newFlags(env, "train", trainUsage)
	rigPath := fs.String("rig", "", "firmware config `FILE` (required)")
	data := fs.String("data", "", "training data: uci:DIR, sim:DIR or skab:DIR (required)")
	out := fs.String("out", "", "bundle `DIR` to write (required)")
	var tf trainFlags
	tf.register(fs)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *rigPath == "" || *data == "" || *out == "" || fs.NArg() > 0 {
		errorf(env, "train: --rig FILE, --data KIND:DIR and --out DIR are required (no other arguments)")
		return ExitUsage
	}
	ref, err := parseDataRef(*data)
	if err != nil {
		errorf(env, "train: %v", err)
		return ExitUsage
	}
	opts, err := tf.options()
	if err != nil {
		errorf(env, "train: %v", err)
		return ExitUsage
	}
	bopts, err := tf.bundleOptions()
	if err != nil {
		errorf(env, "train: %v", err)
		return ExitUsage
	}
	cfg, err := rig.Load(*rigPath)
	if err != nil {
		errorf(env, "train: %v", err)
		return ExitFailure
	}
	reportDir := tf.report
	switch reportDir {
	case "":
		reportDir = filepath.Join(*out, "report")
	case "none":
		reportDir = ""
	}
	tr, err := trainBundle(ctx, env, cfg, ref, tf.gridHz, tf.steps, opts, bopts, *out, reportDir)
	if err != nil {
		errorf(env, "train: %v", err)
		return ExitFailure
	}
	printTrained(env.Stdout, *out, tr)
	if len(tr.report) > 0 {
		fmt.Fprintf(env.Stdout, "training report: %s\n", strings.Join(tr.report, ", "))
	}
	return ExitOK
}

// trained is what trainBundle did (models/pipeline).
type trained struct {
	res     *train.Result
	written *export.Written
	// seconds is train.Run's wall time; total adds loading and export.
	seconds, total float64
	// report lists the training report's files (none without one).
	report []string
}

// trainBundle loads ref for cfg, trains with opts (progress on stderr)
// and writes the bundle to dir: models/pipeline.Train, the code
// rig-cloud's worker runs too.
func trainBundle(ctx context.Context, env Env, cfg *rig.Config, ref dataRef, gridHz float64, steps int,
	opts train.Options, bopts export.BundleOptions, dir, reportDir string) (*trained, error) {
	t, err := pipeline.Train(ctx, cfg, pipeline.Data{Kind: ref.Kind, Dir: ref.Dir, Label: bopts.Provenance.Dataset},
		pipeline.Options{Train: opts, Bundle: bopts, GridHz: gridHz, Steps: steps, CodeVersion: env.Version, Log: env.Stderr,
			ReportDir: reportDir}, dir)
	if err != nil {
		return nil, err
	}
	return &trained{res: t.Result, written: t.Written, seconds: t.Seconds, total: t.Total, report: t.Report}, nil
}

func roundTo(v, unit float64) float64 { return math.Round(v/unit) / math.Round(1/unit) }

func printTrained(w io.Writer, dir string, t *trained) {
	man := t.written.Manifest
	var b bytes.Buffer
	for _, f := range man.Models {
		fmt.Fprintf(&b, " %s %.1f KB,", f.File, float64(f.Bytes)/1024)
	}
	fmt.Fprintf(w, "wrote %s: %s %s,%s %d parameters; trained %.0f s (best epoch %d of %d)\n", dir, man.Name, man.Version,
		b.String(), t.res.Model.NumParams(), t.seconds, t.res.BestEpoch, len(t.res.History))
	if v := t.res.Val; v != nil {
		var parts []string
		for _, tm := range v.Targets {
			parts = append(parts, fmt.Sprintf("%s %.2f%% (F1 %.3f)", tm.Name, 100*tm.Accuracy, tm.MacroF1))
		}
		fmt.Fprintf(w, "validation (%d windows): %s\n", v.N, strings.Join(parts, ", "))
	}
}
