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
	"flag"
	"fmt"
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
	if err := run(); err != nil {
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

func run() error {
	rigPath := flag.String("rig", "firmware-configs/zema-testrig.yaml", "firmware config")
	data := flag.String("data", "../shared/data/uci-hydraulic-1hz", "UCI-layout folder")
	split := flag.String("split", "random", "random (stratified k-fold) or grouped (k-fold by contiguous run)")
	folds := flag.Int("folds", 5, "number of folds")
	only := flag.Int("only", 0, "run only the first N folds (0: all)")
	foldSel := flag.Int("fold", 0, "run only fold k (1-based; 0: all)")
	seed := flag.Uint64("seed", 1, "seed")
	epochs := flag.Int("epochs", 0, "max epochs (0: default)")
	patience := flag.Int("patience", 0, "early-stopping patience (0: default)")
	hidden := flag.Int("hidden", 0, "hidden width D (0: default)")
	patch := flag.Int("patch", 0, "patch length P (0: default)")
	layers := flag.Int("layers", 0, "GAT layers (0: default, -1: none)")
	heads := flag.Int("heads", 0, "attention heads (0: default)")
	batch := flag.Int("batch", 0, "batch size (0: default)")
	lr := flag.Float64("lr", 0, "peak learning rate (0: default)")
	wd := flag.Float64("wd", 0, "weight decay")
	valFrac := flag.Float64("val", 0, "validation fraction of the training folds (0: default, <0: none)")
	valSplit := flag.String("valsplit", "", "validation split: grouped or random (\"\": the same as -split, so the weights are chosen for the protocol they are judged by)")
	window := flag.Int("window", 0, "window view width r (0: default, -1: none)")
	readout := flag.Int("readout", 0, "graph readout width R (0: default, -1: none)")
	global := flag.Int("global", 0, "rig-level view width G (0: default, -1: none)")
	view := flag.Int("view", 0, "component targets' own view width r_t (0: default, -1: none)")
	viewHidden := flag.Int("viewhidden", 0, "hidden width over a target's own view (0: default)")
	headHidden := flag.Int("headhidden", 0, "target heads' hidden width (0: default)")
	smooth := flag.Float64("smooth", 0, "label smoothing")
	ema := flag.Float64("ema", 0, "decay of the weights' moving average (0: default 0.99, <0: off)")
	minLR := flag.Float64("minlr", 0, "final LR as a fraction of the peak (0: default)")
	shift := flag.Int("shift", 0, "largest time shift of the training windows in steps (0: default)")
	noise := flag.Float64("noise", 0, "std of Gaussian noise on the normalised training inputs (0: default)")
	swa := flag.Int("swa", 0, "average the weights of the last N epochs (runs without validation; 0: default)")
	targetW := flag.String("tw", "", "cross-entropy weights of targets, e.g. accumulator=2,valve=1.5")
	backend := flag.String("backend", "", "GoMLX backend (go, xla:cpu, xla:cuda)")
	quiet := flag.Bool("q", false, "no per-epoch progress")
	monitor := flag.Bool("monitor", false, "evaluate the test fold after every epoch (learning curves; never used for selection)")
	dumpFolds := flag.String("dumpfolds", "", "write the folds' test indices as JSON to this file and exit")
	dry := flag.Bool("params", false, "print the model's weights per tensor and their total, and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	cfg, err := rig.Load(*rigPath)
	if err != nil {
		return err
	}
	sizes := gnn.Sizes{Hidden: *hidden, Patch: *patch, Layers: *layers, Heads: *heads,
		Window: *window, Readout: *readout, Global: *global, HeadHidden: *headHidden,
		View: *view, ViewHidden: *viewHidden}
	if *dry {
		m, err := gnn.New(cfg, int(cfg.Operation.CycleS), sizes)
		if err != nil {
			return err
		}
		for _, p := range m.Params() {
			fmt.Printf("%-28s %-14v %6d\n", p.Name, p.Shape, p.Size())
		}
		fmt.Printf("sizes %+v: %d weights (%.1f KB fp32)\n", m.Sizes, m.NumParams(), float64(4*m.NumParams())/1024)
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
	progress := os.Stderr
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
			Sizes: sizes, Shift: *shift, Noise: *noise, SWA: *swa, TargetWeights: tw,
		}
		if *monitor {
			opts.Monitor = ds.Subset(test)
		}
		var res *train.Result
		if progress != nil {
			res, err = train.Run(ctx, opts, progress)
		} else {
			res, err = train.Run(ctx, opts, nil)
		}
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
		fmt.Fprintln(os.Stderr, line)
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
	fmt.Fprintln(os.Stderr, line)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"split": *split, "folds": out, "mean": mean, "seconds": time.Since(start).Seconds()})
}
