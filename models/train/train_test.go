package train

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// writeSynthetic writes a small UCI-layout folder for cfg: cycles runs of
// runLen cycles with one random condition per run; each target's class
// shifts the level and the late-cycle slope of its component's sensors
// (rig-level targets shift every sensor slightly), plus noise.
func writeSynthetic(t testing.TB, cfg *rig.Config, runs, runLen int, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	if err := traintest.WriteUCI(dir, cfg, runs, runLen, seed); err != nil {
		t.Fatal(err)
	}
	return dir
}

// synthetic is writeSynthetic's folder loaded as a data set of cfg.
func synthetic(t testing.TB, cfg *rig.Config, runs, runLen int, seed uint64) *Dataset {
	t.Helper()
	ds, err := LoadUCI(writeSynthetic(t, cfg, runs, runLen, seed), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// mustRun trains with opts; an error ends the test.
func mustRun(t testing.TB, opts Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// runTwice trains with opts twice and ends the test unless both runs give
// the same weights (what names the runs in the failure); it returns the
// first run.
func runTwice(t testing.TB, opts Options, what string) *Result {
	t.Helper()
	a, b := mustRun(t, opts), mustRun(t, opts)
	for i := range a.Weights {
		for j := range a.Weights[i].Data {
			if a.Weights[i].Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("weight %s[%d] differs between %s with one seed: %v vs %v",
					a.Weights[i].Name, j, what, a.Weights[i].Data[j], b.Weights[i].Data[j])
			}
		}
	}
	return a
}

// sameWeights reports whether a and b trained the same weights.
func sameWeights(a, b *Result) bool {
	for i := range a.Weights {
		if !slices.Equal(a.Weights[i].Data, b.Weights[i].Data) {
			return false
		}
	}
	return true
}

func tinyOptions(cfg *rig.Config, ds *Dataset, seed uint64) Options {
	return Options{
		Rig: cfg, Train: ds, Seed: seed, Epochs: 6, Patience: -1, BatchSize: 8, LR: 1e-2,
		Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8},
	}
}

func TestTrainLossDecreases(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 16, 6, 1)
	opts := tinyOptions(cfg, ds, 3)
	opts.Out = t.TempDir()
	var log strings.Builder
	res, err := Run(context.Background(), opts, &log)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(log.String())
	h := res.History
	if len(h) != opts.Epochs {
		t.Fatalf("%d epochs recorded, want %d", len(h), opts.Epochs)
	}
	if !(h[len(h)-1].TrainLoss < 0.8*h[0].TrainLoss) {
		t.Fatalf("loss did not decrease: first %.4f last %.4f", h[0].TrainLoss, h[len(h)-1].TrainLoss)
	}
	if err := res.Weights.Check(res.Model); err != nil {
		t.Fatal(err)
	}
	if len(res.AnomalyThreshold) != res.Model.Sensors || res.Val == nil {
		t.Fatalf("result incomplete: %d thresholds, val %v", len(res.AnomalyThreshold), res.Val)
	}
	for _, f := range []string{"best.weights", "last.weights", "history.json"} {
		if _, err := os.Stat(filepath.Join(opts.Out, f)); err != nil {
			t.Errorf("checkpoint: %v", err)
		}
	}
	w, err := gnn.LoadWeights(filepath.Join(opts.Out, "best.weights"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(res.Model); err != nil {
		t.Fatal(err)
	}
	// Evaluate goes through the same preprocessing and agrees with the
	// validation metrics of the chosen epoch on the same windows.
	_, va := GroupedSplit(ds.Groups, 0.15, opts.Seed)
	met, err := Evaluate(cfg, res.Model, res.Weights, res.Spec, ds.Subset(va), "")
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(met.Loss-res.Val.Loss) > 1e-4 {
		t.Fatalf("Evaluate loss %v, training's validation loss %v", met.Loss, res.Val.Loss)
	}
	// gnn.Forward (the parity path) agrees with the trainer's graph.
	tens, err := Tensorize(ds.Subset(va[:2]), res.Spec)
	if err != nil {
		t.Fatal(err)
	}
	backend, err := gnn.NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	fw, err := gnn.Forward(backend, res.Model, res.Weights, tens.X, tens.Mask)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Predict(cfg, res.Model, res.Weights, res.Spec, ds.Subset(va[:2]), "", 4)
	if err != nil {
		t.Fatal(err)
	}
	for j := range p.Probs {
		for i := range p.Probs[j] {
			if d := math.Abs(float64(p.Probs[j][i] - fw.Probs[j][i])); d > 1e-5 {
				t.Fatalf("target %d prob %d: Predict %v, Forward %v", j, i, p.Probs[j][i], fw.Probs[j][i])
			}
		}
	}
}

func TestTrainDeterministic(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 5, 2)
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	a := runTwice(t, opts, "runs")
	opts.Seed = 12
	c := mustRun(t, opts)
	if c.History[0].TrainLoss == a.History[0].TrainLoss {
		t.Fatal("another seed gave the same loss")
	}
}

// TestShapesEveryConfig trains one step on synthetic windows of every
// shipped firmware config (configs without cycles use a 20-step window).
func TestShapesEveryConfig(t *testing.T) {
	for _, name := range []string{"zema-testrig", "skab-testbed", "excavator"} {
		t.Run(name, func(t *testing.T) {
			cfg := rigtest.Shipped(t, name)
			// The UCI layout needs cycles and file-name-safe columns: give
			// a copy of configs without them (SKAB) a 20 s cycle and the ids
			// as columns.
			c := *cfg
			if c.Operation.CycleS == 0 {
				c.Operation.CycleS = 20
			}
			c.Sensors = append([]rig.Sensor(nil), cfg.Sensors...)
			for i := range c.Sensors {
				c.Sensors[i].Column = ""
			}
			cfg = &c
			ds := synthetic(t, cfg, 4, 4, 3)
			opts := tinyOptions(cfg, ds, 1)
			opts.Epochs, opts.ValFraction = 1, -1
			res := mustRun(t, opts)
			p, err := Predict(cfg, res.Model, res.Weights, res.Spec, ds, "", 8)
			if err != nil {
				t.Fatal(err)
			}
			if p.N != ds.Len() || len(p.Health) != p.N*len(cfg.Components) || len(p.Anomaly) != p.N*len(cfg.ActiveSensors()) {
				t.Fatalf("shapes: n %d health %d anomaly %d", p.N, len(p.Health), len(p.Anomaly))
			}
			for j, tg := range cfg.Targets {
				if len(p.Probs[j]) != p.N*len(tg.Classes) {
					t.Fatalf("target %s: %d probs", tg.Name, len(p.Probs[j]))
				}
			}
		})
	}
}

func TestLoadUCIBadLabel(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	dir := writeSynthetic(t, cfg, 2, 3, 4)
	path := filepath.Join(dir, uci.ProfileFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	f := strings.Split(lines[3], "\t")
	f[1] = "75" // not a valve class
	lines[3] = strings.Join(f, "\t")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadUCI(dir, cfg, 1)
	if err == nil {
		t.Fatal("a label outside the classes was accepted")
	}
	for _, want := range []string{"profile.txt line 4 column 2", "75", `"valve"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestLoadUCIErrors(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	if _, err := LoadUCI(t.TempDir(), cfg, 1); err == nil || !strings.Contains(err.Error(), "PS1.txt") {
		t.Errorf("empty folder: %v", err)
	}
	skab := rigtest.Shipped(t, "skab-testbed")
	if _, err := LoadUCI(t.TempDir(), skab, 1); err == nil || !strings.Contains(err.Error(), "cycle_s") {
		t.Errorf("rig without cycles: %v", err)
	}
}

func TestSplits(t *testing.T) {
	groups := []int{0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4, 5, 5, 5, 6, 7, 7, 8, 9}
	tr, va := GroupedSplit(groups, 0.3, 1)
	if len(tr)+len(va) != len(groups) || len(va) == 0 {
		t.Fatalf("split sizes %d/%d", len(tr), len(va))
	}
	side := map[int]bool{}
	for _, i := range va {
		side[groups[i]] = true
	}
	for _, i := range tr {
		if side[groups[i]] {
			t.Fatalf("group %d on both sides", groups[i])
		}
	}
	folds, err := GroupedKFold(groups, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	total := 0
	for f, idx := range folds {
		total += len(idx)
		for _, i := range idx {
			if g, ok := seen[groups[i]]; ok && g != f {
				t.Fatalf("group %d in folds %d and %d", groups[i], g, f)
			}
			seen[groups[i]] = f
		}
	}
	if total != len(groups) {
		t.Fatalf("folds cover %d of %d", total, len(groups))
	}
	labels := make([][]int, 30)
	for i := range labels {
		labels[i] = []int{i % 3, i % 2}
	}
	sf, err := StratifiedKFold(labels, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range sf {
		if len(idx) != 6 {
			t.Fatalf("fold of %d, want 6", len(idx))
		}
	}
	if _, err := StratifiedKFold(labels, 1, 1); err == nil {
		t.Fatal("1 fold accepted")
	}
	// StratifiedSplit: disjoint, covering, about frac of every stratum.
	tr, va = StratifiedSplit(labels, 0.2, 1)
	if len(tr)+len(va) != len(labels) || len(va) != 6 {
		t.Fatalf("stratified split %d/%d, want 24/6", len(tr), len(va))
	}
	inVal := map[int]bool{}
	perClass := map[int]int{}
	for _, i := range va {
		inVal[i] = true
		perClass[labels[i][0]]++
	}
	for _, i := range tr {
		if inVal[i] {
			t.Fatalf("window %d on both sides", i)
		}
	}
	for c := range 3 {
		if perClass[c] != 2 {
			t.Fatalf("class %d has %d validation windows, want 2 (stratified)", c, perClass[c])
		}
	}
	if tr2, va2 := StratifiedSplit(labels, 0.2, 1); !slices.Equal(tr, tr2) || !slices.Equal(va, va2) {
		t.Fatal("StratifiedSplit is not deterministic")
	}
}

// TestValSplitOptions trains one epoch with the random validation split,
// label smoothing and the small sizes (window view, no node readout,
// rig-level view), and refuses an unknown split.
func TestValSplitOptions(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 10, 6, 5)
	opts := tinyOptions(cfg, ds, 2)
	opts.Epochs, opts.ValSplit, opts.ValFraction, opts.LabelSmoothing = 1, "random", 0.2, 0.1
	opts.Sizes.Window, opts.Sizes.Readout, opts.Sizes.Global = 2, -1, 4
	res := mustRun(t, opts)
	if res.ValWindows != 12 || res.TrainWindows != 48 || res.Val == nil {
		t.Fatalf("random validation split: %d train / %d val windows, want 48/12", res.TrainWindows, res.ValWindows)
	}
	if res.Model.Sizes.GlobalWidth() != 4 || res.Model.Sizes.ReadoutWidth() != 0 {
		t.Fatalf("sizes %+v", res.Model.Sizes)
	}
	opts.ValSplit = "sideways"
	if _, err := Run(context.Background(), opts, nil); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Fatalf("unknown ValSplit: %v", err)
	}
}

func TestScore(t *testing.T) {
	m := Score("x", 3, []int{0, 0, 1, 1, 2, -1}, []int{0, 1, 1, 1, 2, 0})
	if m.N != 5 || math.Abs(m.Accuracy-0.8) > 1e-12 {
		t.Fatalf("n %d accuracy %v", m.N, m.Accuracy)
	}
	// F1: class0 2/3, class1 0.8, class2 1.
	if want := (2.0/3 + 0.8 + 1) / 3; math.Abs(m.MacroF1-want) > 1e-12 {
		t.Fatalf("macro F1 %v, want %v", m.MacroF1, want)
	}
}
