// Command ucicv cross-validates the GNN on a UCI-layout data folder:
// stratified random k-fold (the literature's protocol) or grouped k-fold by
// contiguous run (the honest one), printing per-fold and mean accuracy and
// macro-F1 per target, and a JSON summary on stdout.
//
//	go run ./models/train/cmd/ucicv -rig firmware-configs/zema-testrig.yaml \
//	    -data ../shared/data/uci-hydraulic-1hz -split random -folds 5
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "ucicv:", err)
		os.Exit(1)
	}
}

type foldResult struct {
	Fold      int                       `json:"fold"`
	Test      int                       `json:"test_windows"`
	Targets   map[string]map[string]any `json:"targets"`
	Seconds   float64                   `json:"train_seconds"`
	Epochs    int                       `json:"epochs"`
	BestEpoch int                       `json:"best_epoch"`
	// Errors are, per target, the misclassified windows (0-based line
	// numbers of the data folder's files).
	Errors map[string][]int `json:"errors"`
}

// sensorDropout checks the -sensor-dropout flag's value p and returns
// train.Options.SensorDropout: p in [0, 1), 0 meaning off (the option's
// -1, since the option's 0 is its default 0.2), or negative for off.
func sensorDropout(p float64) (float64, error) {
	switch {
	case math.IsNaN(p) || p >= 1:
		return 0, fmt.Errorf("-sensor-dropout %v: want a probability below 1 (0 or negative: off)", p)
	case p <= 0:
		return -1, nil
	}
	return p, nil
}

// run cross-validates with the command-line arguments args (without the
// program name): the per-fold and mean lines go to stderr, the JSON
// summary to stdout.
func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ucicv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rigPath := fs.String("rig", "firmware-configs/zema-testrig.yaml", "firmware config")
	data := fs.String("data", "../shared/data/uci-hydraulic-1hz", "UCI-layout folder")
	split := fs.String("split", "random", "random (stratified k-fold) or grouped (k-fold by contiguous run)")
	folds := fs.Int("folds", 5, "number of folds")
	only := fs.Int("only", 0, "run only the first N folds (0: all)")
	foldSel := fs.Int("fold", 0, "run only fold k (1-based; 0: all)")
	seed := fs.Uint64("seed", 1, "seed")
	epochs := fs.Int("epochs", 0, "max epochs (0: default)")
	patience := fs.Int("patience", 0, "early-stopping patience (0: default)")
	hidden := fs.Int("hidden", 0, "hidden width D (0: default)")
	patch := fs.Int("patch", 0, "patch length P (0: default)")
	layers := fs.Int("layers", 0, "GAT layers (0: default, -1: none)")
	heads := fs.Int("heads", 0, "attention heads (0: default)")
	batch := fs.Int("batch", 0, "batch size (0: default)")
	lr := fs.Float64("lr", 0, "peak learning rate (0: default)")
	wd := fs.Float64("wd", 0, "weight decay")
	valFrac := fs.Float64("val", 0, "validation fraction of the training folds (0: default, <0: none)")
	valSplit := fs.String("valsplit", "", "validation split: grouped or random (\"\": the same as -split, so the weights are chosen for the protocol they are judged by)")
	window := fs.Int("window", 0, "window view width r (0: default, -1: none)")
	readout := fs.Int("readout", 0, "graph readout width R (0: default, -1: none)")
	global := fs.Int("global", 0, "rig-level view width G (0: default, -1: none)")
	view := fs.Int("view", 0, "component targets' own view width r_t (0: default, -1: none)")
	viewHidden := fs.Int("viewhidden", 0, "hidden width over a target's own view (0: default)")
	viewAttn := fs.Int("viewattn", 0, "width of the targets' attention over the steps (0: default, none)")
	headHidden := fs.Int("headhidden", 0, "target heads' hidden width (0: default)")
	smooth := fs.Float64("smooth", 0, "label smoothing")
	ema := fs.Float64("ema", 0, "decay of the weights' moving average (0: default 0.99, <0: off)")
	minLR := fs.Float64("minlr", 0, "final LR as a fraction of the peak (0: default)")
	shift := fs.Int("shift", 0, "largest time shift of the training windows in steps (0: default)")
	noise := fs.Float64("noise", 0, "std of Gaussian noise on the normalised training inputs (0: default)")
	swa := fs.Int("swa", 0, "average the weights of the last N epochs (runs without validation; 0: default)")
	targetW := fs.String("tw", "", "cross-entropy weights of targets, e.g. accumulator=2,valve=1.5")
	backend := fs.String("backend", "", "GoMLX backend (go, xla:cpu, xla:cuda)")
	quiet := fs.Bool("q", false, "no per-epoch progress")
	monitor := fs.Bool("monitor", false, "evaluate the test fold after every epoch (learning curves; never used for selection)")
	dumpFolds := fs.String("dumpfolds", "", "write the folds' test indices as JSON to this file and exit")
	dry := fs.Bool("params", false, "print the model's weights per tensor and their total, and exit")
	dropout := fs.Float64("sensor-dropout", 0.2, "probability of masking a whole may_drop_out sensor in a training window, in [0, 1) (0 or negative: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	sensorDrop, err := sensorDropout(*dropout)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := rig.Load(*rigPath)
	if err != nil {
		return err
	}
	sizes := gnn.Sizes{Hidden: *hidden, Patch: *patch, Layers: *layers, Heads: *heads,
		Window: *window, Readout: *readout, Global: *global, HeadHidden: *headHidden,
		View: *view, ViewHidden: *viewHidden, ViewAttn: *viewAttn}
	if *dry {
		m, err := gnn.New(cfg, int(cfg.Operation.CycleS), sizes)
		if err != nil {
			return err
		}
		for _, p := range m.Params() {
			fmt.Fprintf(stdout, "%-28s %-14v %6d\n", p.Name, p.Shape, p.Size())
		}
		fmt.Fprintf(stdout, "sizes %+v: %d weights (%.1f KB fp32)\n", m.Sizes, m.NumParams(), float64(4*m.NumParams())/1024)
		return nil
	}
	tw := map[string]float64{}
	for _, kv := range strings.Split(*targetW, ",") {
		if kv == "" {
			continue
		}
		name, v, ok := strings.Cut(kv, "=")
		w, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			return fmt.Errorf("-tw %q: want name=weight pairs separated by commas", *targetW)
		}
		tw[name] = w
	}
	ds, err := train.LoadUCI(*data, cfg, 1)
	if err != nil {
		return err
	}
	var testFolds [][]int
	switch *split {
	case "random":
		testFolds, err = train.StratifiedKFold(ds.Labels, *folds, *seed)
	case "grouped":
		testFolds, err = train.GroupedKFold(ds.Groups, *folds, *seed)
	default:
		err = fmt.Errorf("-split %q: want random or grouped", *split)
	}
	if err != nil {
		return err
	}
	if *dumpFolds != "" {
		b, err := json.Marshal(testFolds)
		if err != nil {
			return err
		}
		return os.WriteFile(*dumpFolds, b, 0o644)
	}
	if *valSplit == "" {
		*valSplit = *split
	}
	if *only > 0 && *only < len(testFolds) {
		testFolds = testFolds[:*only]
	}
	var progress io.Writer = stderr
	if *quiet {
		progress = nil
	}
	sums := map[string][2]float64{}
	var out []foldResult
	start := time.Now()
	for f, test := range testFolds {
		if *foldSel > 0 && f+1 != *foldSel {
			continue
		}
		opts := train.Options{
			Rig: cfg, Train: ds.Subset(train.Complement(ds.Len(), test)), Seed: *seed + uint64(f),
			Epochs: *epochs, Patience: *patience, BatchSize: *batch, LR: *lr, WeightDecay: *wd,
			ValFraction: *valFrac, ValSplit: *valSplit, Backend: *backend, LabelSmoothing: *smooth, MinLRFraction: *minLR, EMA: *ema,
			Sizes: sizes, Shift: *shift, Noise: *noise, SWA: *swa, TargetWeights: tw, SensorDropout: sensorDrop,
		}
		if *monitor {
			opts.Monitor = ds.Subset(test)
		}
		res, err := train.Run(ctx, opts, progress)
		if err != nil {
			return err
		}
		pred, err := train.Predict(cfg, res.Model, res.Weights, res.Spec, ds.Subset(test), *backend, 0)
		if err != nil {
			return err
		}
		fr := foldResult{Fold: f + 1, Test: len(test), Targets: map[string]map[string]any{}, Seconds: res.Seconds,
			Epochs: len(res.History), BestEpoch: res.BestEpoch, Errors: map[string][]int{}}
		var met train.Metrics
		for j, t := range cfg.Targets {
			truth, got := make([]int, len(test)), make([]int, len(test))
			for k, i := range test {
				truth[k], got[k] = ds.Labels[i][j], pred.Class[k][j]
				if truth[k] >= 0 && truth[k] != got[k] {
					fr.Errors[t.Name] = append(fr.Errors[t.Name], i)
				}
			}
			met.Targets = append(met.Targets, train.Score(t.Name, len(t.Classes), truth, got))
		}
		line := fmt.Sprintf("fold %d/%d (%d test, %.0fs, best epoch %d/%d, %.3f s/step):", f+1, len(testFolds), len(test), res.Seconds, res.BestEpoch, len(res.History), res.StepSeconds)
		for _, t := range met.Targets {
			line += fmt.Sprintf(" %s %.2f%%", t.Name, 100*t.Accuracy)
			fr.Targets[t.Name] = map[string]any{"accuracy": t.Accuracy, "macro_f1": t.MacroF1, "confusion": t.Confusion}
			s := sums[t.Name]
			sums[t.Name] = [2]float64{s[0] + t.Accuracy, s[1] + t.MacroF1}
		}
		fmt.Fprintln(stderr, line)
		out = append(out, fr)
	}
	mean := map[string]map[string]float64{}
	line := fmt.Sprintf("mean over %d folds (%s split, %.0fs):", len(out), *split, time.Since(start).Seconds())
	for _, t := range cfg.Targets {
		s := sums[t.Name]
		n := float64(len(out))
		mean[t.Name] = map[string]float64{"accuracy": s[0] / n, "macro_f1": s[1] / n}
		line += fmt.Sprintf(" %s %.2f%% (F1 %.3f)", t.Name, 100*s[0]/n, s[1]/n)
	}
	fmt.Fprintln(stderr, line)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"split": *split, "folds": out, "mean": mean, "seconds": time.Since(start).Seconds()})
}
