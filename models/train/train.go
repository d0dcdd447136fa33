package train

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Options configure Run. Every zero field means its default, stated on
// the field.
type Options struct {
	// Rig is the rig config the model is for (required).
	Rig *rig.Config
	// Train is the training data (required): LoadUCI or another loader.
	Train *Dataset
	// Val is the validation data for early stopping and the choice of
	// weights. Nil: a split of Train by ValSplit.
	Val *Dataset
	// ValSplit is how Val is split off Train when Val is nil; it must
	// match the protocol the model is judged by:
	//   - "grouped" (""): ValFraction of Train's contiguous runs
	//     (GroupedSplit): unseen runs, the honest choice for deployment,
	//     for the grouped cross-validation and for train-on-one-folder,
	//     test-on-another;
	//   - "random": ValFraction of the windows, stratified on the joint
	//     label (StratifiedSplit): for the literature's stratified random
	//     cross-validation, whose test windows have near-duplicate
	//     neighbours of the same run in training. Selecting on grouped
	//     runs there stops at the epochs that generalise across runs, not
	//     at those that fit the random protocol.
	ValSplit string
	// ValFraction is the fraction of Train held out for validation when
	// Val is nil (0: 0.15; negative: no validation, train all Epochs and
	// keep the last weights).
	ValFraction float64
	// Sizes are the architecture's sizes (zero fields: gnn.DefaultSizes).
	Sizes gnn.Sizes
	// Epochs is the maximum number of passes over Train (0: 60).
	Epochs int
	// Patience stops training after this many epochs without a better
	// validation score (0: 20; negative: never stop early). The score is
	// Metrics.SelectionScore, ties broken by the lower loss.
	Patience int
	// BatchSize is B (0: 32).
	BatchSize int
	// LR is Adam's peak learning rate (0: 3e-3); it warms up linearly
	// over the first WarmupSteps (0: 5 % of all steps) and decays on a
	// cosine to LR*MinLRFraction (0: 0.02) at the last epoch.
	LR            float64
	WarmupSteps   int
	MinLRFraction float64
	// WeightDecay is Adam's decoupled weight decay (0: none).
	WeightDecay float64
	// EMA is the decay of an exponential moving average of the weights
	// over the training steps (0: 0.99; negative: off), warmed up as
	// min(EMA, (1+t)/(10+t)) at step t; validation, the choice of the
	// best epoch and the result use the averaged weights (Polyak
	// averaging: less variance from the last steps' noise).
	EMA float64
	// HealthWeight and ReconWeight weight the health regression and the
	// reconstruction terms of the loss (0: 1 and 0.1; negative: off).
	// Cross-entropy terms have weight 1 each.
	HealthWeight, ReconWeight float64
	// LabelSmoothing mixes each one-hot target with the uniform
	// distribution: (1-ε)·y + ε/C (0: none).
	LabelSmoothing float64
	// NoClassWeights turns off inverse-frequency class weights in the
	// cross-entropy (zero: on).
	NoClassWeights bool
	// TargetWeights multiply the cross-entropy term of the named targets
	// (a target not named: 1; each term is a class-weighted mean, so this
	// is the only way to weight one target against the others).
	TargetWeights map[string]float64
	// Shift is the largest time shift, in grid steps, of the training
	// windows' augmentation (0: none): every window of every batch is
	// shifted by a whole number of steps drawn uniformly from
	// [-Shift, Shift] (all sensors alike; the edge cell repeated, mask
	// shifted with the values). Keep it small on cycle-aligned data.
	Shift int
	// Noise is the standard deviation of Gaussian noise added to the
	// observed cells of the normalised training inputs (0: none).
	Noise float64
	// SensorDropout is the probability with which each sensor the rig
	// marks may_drop_out has its whole window masked (mask and value 0,
	// as a sensor without data) in a training window, drawn per window
	// and sensor from a stream of its own, so that the model learns to
	// judge without it (0: 0.2; negative: off). Sensors without the
	// flag are never masked. Result.DropoutSensors lists the sensors it
	// applied to; the bundle records them and the agent judges only
	// without those (docs/inference.md). Below 1.
	SensorDropout float64
	// SWA averages, with equal weights, the (EMA-averaged when EMA is on)
	// weights at the end of each of the last SWA epochs and keeps that
	// average as the result of a run without validation (0: off, the
	// last epoch's weights). With validation it is ignored.
	SWA int
	// Seed makes the run deterministic: weight init, validation split,
	// batch order and augmentation.
	Seed uint64
	// Backend is the GoMLX backend (gnn.NewBackend; "": pure Go).
	Backend string
	// Out is a folder for checkpoints (best.weights, last.weights,
	// history.json); "" writes none.
	Out string
	// Monitor, when set, is evaluated after every epoch and reported in
	// the progress and History only; it never influences training or the
	// choice of weights (e.g. a test fold, to see learning curves).
	Monitor *Dataset
	// AnomalyQuantile is the quantile of the training windows' per-sensor
	// reconstruction errors used as the anomaly threshold (0: 0.99).
	AnomalyQuantile float64
	// OnEpoch, when set, is called after each epoch (on Run's goroutine,
	// after the epoch's progress line) with its record and an estimate of
	// the time left for the remaining epochs (early stopping may end
	// sooner). It must not keep ep.Val or ep.Monitor past the call's
	// return unless it copies them, and it never influences training.
	OnEpoch func(ep Epoch, eta time.Duration)
}

// Resolved returns the options with the trainer's defaults filled in for
// zero fields: the settings a run with o actually uses.
func (o Options) Resolved() Options {
	o.defaults()
	return o
}

func (o *Options) defaults() {
	o.ValFraction = cmp.Or(o.ValFraction, 0.15)
	o.Epochs = cmp.Or(o.Epochs, 60)
	o.Patience = cmp.Or(o.Patience, 20)
	o.EMA = cmp.Or(o.EMA, 0.99)
	o.BatchSize = cmp.Or(o.BatchSize, 32)
	o.LR = cmp.Or(o.LR, 3e-3)
	o.MinLRFraction = cmp.Or(o.MinLRFraction, 0.02)
	o.HealthWeight = cmp.Or(o.HealthWeight, 1)
	o.ReconWeight = cmp.Or(o.ReconWeight, 0.1)
	o.AnomalyQuantile = cmp.Or(o.AnomalyQuantile, 0.99)
	o.SensorDropout = cmp.Or(o.SensorDropout, 0.2)
}

// Epoch is one epoch's record.
type Epoch struct {
	Epoch     int      `json:"epoch"`
	TrainLoss float64  `json:"train_loss"`
	TrainCE   float64  `json:"train_ce"`
	Health    float64  `json:"train_health_mse"`
	Recon     float64  `json:"train_recon_mse"`
	LR        float64  `json:"lr"`
	Seconds   float64  `json:"seconds"`
	Val       *Metrics `json:"val,omitempty"`
	Monitor   *Metrics `json:"monitor,omitempty"`
}

// Result is a trained model and how it was obtained.
type Result struct {
	// Model is the architecture (sizes and topology constants).
	Model *gnn.Model
	// Weights are the chosen weights (best validation score, or the last
	// epoch without validation): the exporter's input.
	Weights gnn.Weights
	// Spec is the input spec with the training split's normalisation
	// stats: the bundle's input spec.
	Spec prep.Spec
	// DropoutSensors are the input sensors (Spec order) trained with
	// whole-window dropout (Options.SensorDropout): the ones the model
	// was taught to judge without. Empty when none.
	DropoutSensors []string
	// Val are the validation metrics of the chosen weights (nil without
	// validation).
	Val *Metrics
	// BestEpoch is the epoch of the chosen weights (1-based).
	BestEpoch int
	// History has one record per epoch run.
	History []Epoch
	// AnomalyThreshold is, per sensor (Spec order), the AnomalyQuantile of
	// the per-sensor reconstruction error over the training windows.
	AnomalyThreshold []float64
	// Calibration holds those windows and the rule, for the exporter to
	// calibrate other forms of the model (the int8 file) the same way
	// (nil: not kept, e.g. a result rebuilt from saved weights).
	Calibration *Calibration
	// TrainWindows and ValWindows count the windows used.
	TrainWindows, ValWindows int
	// Seconds is the wall time of Run; StepSeconds the mean time of one
	// Adam step.
	Seconds, StepSeconds float64
}

// Run trains a model on opts.Train, writing a progress line per epoch
// (and one every few seconds within an epoch) with an ETA to progress
// (nil: none). It stops early when ctx is cancelled, returning ctx.Err():
// ctx is checked before the model is compiled, before each Adam step,
// before each batch of the validation, monitor and calibration passes,
// and after the last epoch, so a cancel takes effect within about one
// step (a cancelled run returns no result, even in its last epoch).
// Data sets whose grids, labels and groups disagree (Dataset.Check) are
// an ErrData naming the option, before any work.
func Run(ctx context.Context, opts Options, progress io.Writer) (*Result, error) {
	start := time.Now()
	opts.defaults()
	if progress == nil {
		progress = io.Discard
	}
	if opts.Rig == nil || opts.Train == nil {
		return nil, fmt.Errorf("%w: Options.Rig and Options.Train are required", ErrData)
	}
	// The splits, Subset, the loss and the scores index Labels and Groups
	// by window: a data set whose slices disagree is an error here, not
	// a panic deeper in.
	for _, d := range []struct {
		name string
		ds   *Dataset
	}{{"Train", opts.Train}, {"Val", opts.Val}, {"Monitor", opts.Monitor}} {
		if d.ds == nil {
			continue
		}
		if err := d.ds.Check(opts.Rig.Targets); err != nil {
			return nil, fmt.Errorf("%w (Options.%s)", err, d.name)
		}
	}
	if err := checkCompatible(opts.Rig, opts.Train.Spec); err != nil {
		return nil, err
	}
	trainDS, valDS := opts.Train, opts.Val
	if valDS == nil && opts.ValFraction > 0 {
		var tr, va []int
		switch opts.ValSplit {
		case "", "grouped":
			tr, va = GroupedSplit(opts.Train.Groups, opts.ValFraction, opts.Seed)
		case "random":
			tr, va = StratifiedSplit(opts.Train.Labels, opts.ValFraction, opts.Seed)
		default:
			return nil, fmt.Errorf("%w: Options.ValSplit %q: want \"grouped\" or \"random\"", ErrData, opts.ValSplit)
		}
		if len(va) > 0 {
			trainDS, valDS = opts.Train.Subset(tr), opts.Train.Subset(va)
		}
	}
	if trainDS.Len() < opts.BatchSize {
		return nil, fmt.Errorf("%w: %d training windows, fewer than one batch of %d", ErrData, trainDS.Len(), opts.BatchSize)
	}
	spec, err := Stats(trainDS)
	if err != nil {
		return nil, err
	}
	trT, err := Tensorize(trainDS, spec)
	if err != nil {
		return nil, err
	}
	var vaT *Tensors
	if valDS != nil {
		if vaT, err = Tensorize(valDS, spec); err != nil {
			return nil, err
		}
	}
	var moT *Tensors
	if opts.Monitor != nil {
		if moT, err = Tensorize(opts.Monitor, spec); err != nil {
			return nil, err
		}
	}
	// Preparing the data may take a while on a large set: a cancel
	// meanwhile ends the run before the model is compiled.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	model, err := gnn.New(opts.Rig, spec.Steps, opts.Sizes)
	if err != nil {
		return nil, err
	}
	backend, err := gnn.NewBackend(opts.Backend)
	if err != nil {
		return nil, err
	}
	defer backend.Finalize()

	lw := lossWeights{health: max(opts.HealthWeight, 0), recon: max(opts.ReconWeight, 0), smooth: opts.LabelSmoothing}
	lw.classW = classWeights(opts.Rig, trainDS.Labels, !opts.NoClassWeights)
	if lw.targetW, err = targetWeights(opts.Rig, opts.TargetWeights); err != nil {
		return nil, err
	}
	if opts.Shift < 0 || opts.Shift >= spec.Steps || opts.Noise < 0 || opts.SWA < 0 {
		return nil, fmt.Errorf("%w: Options.Shift %d (want 0..%d), Noise %v and SWA %d must not be negative", ErrData, opts.Shift, spec.Steps-1, opts.Noise, opts.SWA)
	}
	if !(opts.SensorDropout < 1) {
		return nil, fmt.Errorf("%w: Options.SensorDropout %v: want below 1 (negative: off)", ErrData, opts.SensorDropout)
	}
	dropRows, dropIDs := dropoutRows(opts.Rig, spec, opts.SensorDropout)
	init := gnn.InitWeights(model, opts.Seed)
	if err := model.SetCellStats(init, trT.X, trT.Mask); err != nil {
		return nil, err
	}
	eng, err := newEngine(backend, model, init, opts.BatchSize, lw, opts.LR, opts.WeightDecay)
	if err != nil {
		return nil, err
	}
	defer eng.close()
	health := healthLabels(opts.Rig, model, trainDS.Labels)

	if opts.Out != "" {
		if err := os.MkdirAll(opts.Out, 0o755); err != nil {
			return nil, fmt.Errorf("train: checkpoint folder: %w", err)
		}
	}
	res := &Result{Model: model, Spec: spec, DropoutSensors: dropIDs, TrainWindows: trainDS.Len()}
	if valDS != nil {
		res.ValWindows = valDS.Len()
	}
	fmt.Fprintf(progress, "train: %s, %d train / %d val windows, %d sensors x %d steps, %d nodes, %d parameters, backend %q\n",
		opts.Rig.RigType, res.TrainWindows, res.ValWindows, model.Sensors, model.Steps, model.Nodes, model.NumParams(), opts.Backend)

	B, S, T, N := opts.BatchSize, model.Sensors, model.Steps, model.Nodes
	ST := S * T
	stepsPerEpoch := trainDS.Len() / B
	totalSteps := stepsPerEpoch * opts.Epochs
	warm := opts.WarmupSteps
	if warm == 0 {
		warm = max(1, totalSteps/20)
	}
	lrAt := func(step int) float64 {
		if step < warm {
			return opts.LR * float64(step+1) / float64(warm)
		}
		p := float64(step-warm) / float64(max(1, totalSteps-warm))
		minLR := opts.LR * opts.MinLRFraction
		return minLR + (opts.LR-minLR)*0.5*(1+math.Cos(math.Pi*min(p, 1)))
	}

	bx, bm := make([]float32, B*ST), make([]float32, B*ST)
	by := make([]float32, B*eng.sumC)
	bhy, bhm := make([]float32, B*N), make([]float32, B*N)
	order := seq(trainDS.Len())
	rng := newRand(opts.Seed, 4)
	aug := newAugmenter(opts.Shift, opts.Noise, S, T, newRand(opts.Seed, 6)).
		withDropout(dropRows, opts.SensorDropout, newRand(opts.Seed, 7))
	var swa *swaAverage
	if opts.SWA > 0 && valDS == nil {
		swa = &swaAverage{}
	}
	bestScore, bestLoss := math.Inf(-1), math.Inf(1)
	var best gnn.Weights
	avg := newAverager(opts.EMA)
	sinceBest := 0
	step := 0
	var stepTime time.Duration
	lastPrint := time.Now()
	for epoch := 1; epoch <= opts.Epochs; epoch++ {
		epStart := time.Now()
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var sum stepLosses
		for b := range stepsPerEpoch {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			clear(by)
			for k := range B {
				i := order[b*B+k]
				aug.window(bx[k*ST:(k+1)*ST], bm[k*ST:(k+1)*ST], trT.X[i*ST:(i+1)*ST], trT.Mask[i*ST:(i+1)*ST])
				for j, c := range trainDS.Labels[i] {
					if c >= 0 {
						by[k*eng.sumC+eng.offset[j]+c] = 1
					}
				}
				copy(bhy[k*N:(k+1)*N], health.y[i*N:(i+1)*N])
				copy(bhm[k*N:(k+1)*N], health.m[i*N:(i+1)*N])
			}
			lr := lrAt(step)
			if err := eng.setLR(lr); err != nil {
				return nil, err
			}
			t0 := time.Now()
			l, err := eng.trainStep(bx, bm, by, bhy, bhm)
			if err != nil {
				return nil, err
			}
			stepTime += time.Since(t0)
			step++
			if err := avg.update(eng, step); err != nil {
				return nil, err
			}
			if math.IsNaN(l.total) || math.IsInf(l.total, 0) {
				return nil, fmt.Errorf("train: loss is %v at epoch %d step %d (lower Options.LR?)", l.total, epoch, b+1)
			}
			sum.total += l.total
			sum.ce += l.ce
			sum.health += l.health
			sum.recon += l.recon
			if time.Since(lastPrint) > 10*time.Second {
				lastPrint = time.Now()
				fmt.Fprintf(progress, "  epoch %d/%d step %d/%d loss %.4f lr %.2g  %.3f s/step  ETA %s\n",
					epoch, opts.Epochs, b+1, stepsPerEpoch, sum.total/float64(b+1), lr,
					stepTime.Seconds()/float64(step), eta(stepTime, step, totalSteps))
			}
		}
		n := float64(stepsPerEpoch)
		rec := Epoch{Epoch: epoch, TrainLoss: sum.total / n, TrainCE: sum.ce / n, Health: sum.health / n,
			Recon: sum.recon / n, LR: lrAt(step - 1)}
		improved := valDS == nil
		// Evaluate (and keep) the averaged weights when averaging.
		restore, err := avg.swapIn(eng)
		if err != nil {
			return nil, err
		}
		if valDS != nil {
			p, err := eng.predict(ctx, vaT.X, vaT.Mask, vaT.N)
			if err != nil {
				return nil, err
			}
			met := score(opts.Rig, valDS.Labels, p)
			rec.Val = &met
			// Selection: the mean macro-F1 over the condition targets
			// (robust to class imbalance, and not dominated by one target's
			// log-loss as the sum of cross-entropies was by the UCI set's
			// "stable" flag, which is near chance on unseen runs), the loss
			// breaking ties.
			if f := met.SelectionScore(opts.Rig); f > bestScore || (f == bestScore && met.Loss < bestLoss) {
				bestScore, bestLoss, improved = f, met.Loss, true
			}
		}
		if moT != nil {
			p, err := eng.predict(ctx, moT.X, moT.Mask, moT.N)
			if err != nil {
				return nil, err
			}
			met := score(opts.Rig, opts.Monitor.Labels, p)
			rec.Monitor = &met
		}
		rec.Seconds = time.Since(epStart).Seconds()
		res.History = append(res.History, rec)
		if swa != nil && epoch > opts.Epochs-opts.SWA {
			w, err := eng.weights()
			if err != nil {
				return nil, err
			}
			swa.add(w)
		}
		if improved {
			sinceBest = 0
			if best, err = eng.weights(); err != nil {
				return nil, err
			}
			res.BestEpoch, res.Val = epoch, rec.Val
			if opts.Out != "" {
				if err := gnn.SaveWeights(filepath.Join(opts.Out, "best.weights"), best); err != nil {
					return nil, err
				}
			}
		} else {
			sinceBest++
		}
		if err := restore(); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "epoch %d/%d loss %.4f (ce %.4f health %.4f recon %.4f) %s %.1fs ETA %s\n",
			epoch, opts.Epochs, rec.TrainLoss, rec.TrainCE, rec.Health, rec.Recon, valLine("val", rec.Val, improved),
			rec.Seconds, eta(stepTime, step, totalSteps))
		if rec.Monitor != nil {
			fmt.Fprintf(progress, "    %s\n", valLine("monitor", rec.Monitor, false))
		}
		if opts.OnEpoch != nil {
			opts.OnEpoch(rec, etaDuration(stepTime, step, totalSteps))
		}
		if opts.Out != "" {
			if err := writeJSON(filepath.Join(opts.Out, "history.json"), res.History); err != nil {
				return nil, err
			}
		}
		if opts.Patience > 0 && sinceBest >= opts.Patience {
			fmt.Fprintf(progress, "early stop: no better validation score for %d epochs; best epoch %d\n", sinceBest, res.BestEpoch)
			break
		}
	}
	// A cancel in the last epoch (its validation, OnEpoch) ends the run
	// too: no last checkpoint, no calibration pass over the training set.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opts.Out != "" {
		last, err := avg.current(eng)
		if err != nil {
			return nil, err
		}
		if err := gnn.SaveWeights(filepath.Join(opts.Out, "last.weights"), last); err != nil {
			return nil, err
		}
	}
	if swa != nil && swa.n > 0 {
		best = swa.mean()
		fmt.Fprintf(progress, "swa: the result is the mean of the last %d epochs' weights\n", swa.n)
	}
	res.Weights = best
	if err := eng.setWeights(best); err != nil {
		return nil, err
	}
	p, err := eng.predict(ctx, trT.X, trT.Mask, trT.N)
	if err != nil {
		return nil, err
	}
	res.Calibration = &Calibration{Windows: trT, Quantile: opts.AnomalyQuantile}
	res.AnomalyThreshold = res.Calibration.Thresholds(p.anomaly, S)
	res.StepSeconds = stepTime.Seconds() / float64(max(step, 1))
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

func eta(spent time.Duration, done, total int) string {
	if done == 0 {
		return "?"
	}
	return etaDuration(spent, done, total).Round(time.Second).String()
}

// etaDuration is the time the remaining total-done steps take at the
// mean step time so far (0 before the first step).
func etaDuration(spent time.Duration, done, total int) time.Duration {
	if done == 0 {
		return 0
	}
	return time.Duration(float64(spent) / float64(done) * float64(total-done))
}

func valLine(what string, m *Metrics, improved bool) string {
	if m == nil {
		return ""
	}
	s := fmt.Sprintf("| %s loss %.4f F1 %.4f", what, m.Loss, m.MeanF1())
	for _, t := range m.Targets {
		s += fmt.Sprintf(" %s %.1f%%/%.3f", t.Name, 100*t.Accuracy, t.MacroF1)
	}
	if improved {
		s += " *"
	}
	return s
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// classWeights returns per target and class n/(C·n_c) over the labelled
// windows (classes absent from the data get 1), or all ones when off.
func classWeights(cfg *rig.Config, labels [][]int, on bool) [][]float32 {
	out := make([][]float32, len(cfg.Targets))
	for j, t := range cfg.Targets {
		C := len(t.Classes)
		w := make([]float32, C)
		counts := make([]int, C)
		n := 0
		for _, l := range labels {
			if l[j] >= 0 {
				counts[l[j]]++
				n++
			}
		}
		present := 0
		for _, c := range counts {
			if c > 0 {
				present++
			}
		}
		for c := range C {
			w[c] = 1
			if on && counts[c] > 0 {
				w[c] = float32(float64(n) / float64(present*counts[c]))
			}
		}
		out[j] = w
	}
	return out
}

type healthSet struct{ y, m []float32 }

// healthLabels maps each window's condition labels to node health: the
// class's Health on the target's node (the lowest when several condition
// targets share a node); mask 0 on nodes without a labelled condition.
func healthLabels(cfg *rig.Config, m *gnn.Model, labels [][]int) healthSet {
	N := m.Nodes
	h := healthSet{y: make([]float32, len(labels)*N), m: make([]float32, len(labels)*N)}
	for i, l := range labels {
		for j, t := range cfg.Targets {
			node := m.Targets[j].Node
			if t.Kind != rig.TargetCondition || node < 0 || l[j] < 0 || t.Classes[l[j]].Health == nil {
				continue
			}
			v := float32(*t.Classes[l[j]].Health)
			k := i*N + node
			if h.m[k] == 0 || v < h.y[k] {
				h.y[k] = v
			}
			h.m[k] = 1
		}
	}
	return h
}

// score turns predictions into metrics.
func score(cfg *rig.Config, labels [][]int, p *prediction) Metrics {
	met := Metrics{N: len(labels)}
	for j, t := range cfg.Targets {
		C := len(t.Classes)
		truth := make([]int, len(labels))
		pred := make([]int, len(labels))
		nll, n := 0.0, 0
		for i := range labels {
			truth[i] = labels[i][j]
			row := p.probs[j][i*C : (i+1)*C]
			pred[i] = argmax(row)
			if truth[i] >= 0 {
				nll -= math.Log(math.Max(float64(row[truth[i]]), 1e-12))
				n++
			}
		}
		if n > 0 {
			met.Loss += nll / float64(n)
		}
		met.Targets = append(met.Targets, Score(t.Name, C, truth, pred))
	}
	met.Health = scoreHealth(cfg, labels, p.probs, p.health)
	return met
}

func argmax(row []float32) int {
	best := 0
	for c, v := range row {
		if v > row[best] {
			best = c
		}
	}
	return best
}

// quantiles returns, per column of the [n, S] matrix, its q quantile.
func quantiles(m []float32, S int, q float64) []float64 {
	n := len(m) / S
	out := make([]float64, S)
	col := make([]float64, n)
	for s := range S {
		for i := range n {
			col[i] = float64(m[i*S+s])
		}
		slices.Sort(col)
		if n > 0 {
			out[s] = col[min(n-1, int(math.Ceil(q*float64(n)))-1)]
		}
	}
	return out
}
