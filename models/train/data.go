package train

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// ErrData is returned (wrapped) when data cannot be used for training:
// missing sensors, labels outside a target's classes, empty sets.
var ErrData = errors.New("train: bad data")

// Dataset is a rig's labelled windows on the model's time grid, raw (in
// the sensors' units, not normalised). Normalisation happens in Tensorize
// through shared/prep, with stats from the training split only.
//
// A Dataset is plain data; the loaders return one the caller owns.
type Dataset struct {
	// Spec is the input spec of the rig (prep.SpecFromConfig) with the
	// identity normalisation; training fills the stats.
	Spec prep.Spec
	// Grids[i][s][t] is window i's sensor s (Spec order) at grid cell t,
	// NaN where missing.
	Grids [][][]float64
	// Labels[i][j] is window i's class index for the rig's target j, -1
	// when unknown.
	Labels [][]int
	// Groups[i] is the run window i belongs to: a contiguous run of
	// identical condition labels. Grouped splits keep a run together.
	Groups []int
	// CycleIDs[i] is window i's original cycle number (the UCI layout's
	// cycles.txt: the real UCI copy's line 1 is cycle 212, and it skips
	// cycles), nil when the data set has none. Evaluation gives cycles a
	// clock by it (rigctl diagnose).
	CycleIDs []int
	// Source names where the data came from, for messages.
	Source string
}

// Len returns the number of windows.
func (d *Dataset) Len() int { return len(d.Grids) }

// Subset returns the windows idx (sharing their grids).
func (d *Dataset) Subset(idx []int) *Dataset {
	out := &Dataset{Spec: d.Spec, Source: d.Source}
	for _, i := range idx {
		out.Grids = append(out.Grids, d.Grids[i])
		out.Labels = append(out.Labels, d.Labels[i])
		out.Groups = append(out.Groups, d.Groups[i])
		if d.CycleIDs != nil {
			out.CycleIDs = append(out.CycleIDs, d.CycleIDs[i])
		}
	}
	return out
}

// LoadUCI reads a folder in the UCI hydraulic layout (shared/dataset/uci)
// for cfg: one file per active sensor (named by its id, rig.Sensor.UCIName,
// whatever column: says: the name rigsim dataset writes), one
// line per cycle, and profile.txt with one column per target of cfg in
// config order. Each cycle is one window of cfg.Operation.CycleS seconds
// on a grid of gridHz (0: 1 Hz). A sensor's rows hold either one value
// per grid cell (taken as they are) or one sample per 1/rate_hz over the
// cycle (rate_hz × cycle_s values, brought onto the grid by
// prep.GridFromSamples); any other length is an error naming the file and
// the counts allowed. Every value must lie in the sensor's range widened
// by rig.DefaultRangeTolerance (the rule the agent's ingest drops
// readings by), and every profile value must be one of its target's class
// values; errors name the file, line and column. A rig without targets is
// an error: the layout's labels are its targets' values.
func LoadUCI(dir string, cfg *rig.Config, gridHz float64) (*Dataset, error) {
	return LoadUCIContext(context.Background(), dir, cfg, gridHz)
}

// LoadUCIContext is LoadUCI stopped by ctx: it checks ctx every 256 lines
// of each file read (uci.ReadContext) and every cycle after, and returns
// ctx's error wrapped (naming dir) once ctx ends.
func LoadUCIContext(ctx context.Context, dir string, cfg *rig.Config, gridHz float64) (*Dataset, error) {
	if gridHz == 0 {
		gridHz = 1
	}
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil rig config", ErrData)
	}
	if !(cfg.Operation.CycleS > 0) {
		return nil, fmt.Errorf("%w: rig %q has no operation.cycle_s; the UCI layout holds one cycle per line", ErrData, cfg.RigType)
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%w: rig %q has no targets; the UCI layout labels each cycle with one profile.txt value per target, and training and evaluation on it need at least one (train an anomaly-only model on skab data)", ErrData, cfg.RigType)
	}
	steps := int(math.Round(cfg.Operation.CycleS * gridHz))
	spec, err := prep.SpecFromConfig(cfg, gridHz, steps)
	if err != nil {
		return nil, err
	}
	sensors := cfg.ActiveSensors()
	cols := make([]string, len(sensors))
	for s := range sensors {
		cols[s] = sensors[s].UCIName()
	}
	set, err := uci.ReadContext(ctx, dir, cols, len(cfg.Targets))
	if err != nil {
		return nil, err
	}
	if set.Cycles == 0 {
		return nil, fmt.Errorf("%w: %s holds no cycles", ErrData, dir)
	}
	ds := &Dataset{Spec: spec, CycleIDs: set.CycleIDs, Source: "uci:" + dir}
	onGrid := make([]bool, len(cols))
	for s := range cols {
		if onGrid[s], err = rowLayout(filepath.Join(dir, cols[s]+".txt"), &sensors[s], set.Samples(s), cfg.Operation.CycleS, gridHz, steps); err != nil {
			return nil, err
		}
	}
	for c := range set.Cycles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load %s: cycle %d of %d: %w", dir, c+1, set.Cycles, err)
		}
		grid := make([][]float64, len(cols))
		for s := range cols {
			row := set.Data[s][c]
			if err := checkRange(filepath.Join(dir, cols[s]+".txt"), c+1, &sensors[s], row); err != nil {
				return nil, err
			}
			if onGrid[s] {
				grid[s] = row
				continue
			}
			g, err := prep.GridFromSamples(sensors[s].RateHz, row, gridHz, steps)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", filepath.Join(dir, cols[s]+".txt"), c+1, err)
			}
			grid[s] = g
		}
		ds.Grids = append(ds.Grids, grid)
	}
	ds.Labels, err = labelsFromProfile(cfg, set.Profile, filepath.Join(dir, uci.ProfileFile))
	if err != nil {
		return nil, err
	}
	ds.Groups = RunGroups(cfg, ds.Labels)
	if err := ds.Check(cfg.Targets); err != nil {
		return nil, err
	}
	return ds, nil
}

// rowLayout says how a sensor's rows of n values lie: on the grid (n is
// steps: true) or at the sensor's rate over the cycle (n is rate_hz ×
// cycle_s: false). Any other n is an error naming file: the rate would be
// a guess, and a shifted or truncated row would train silently.
func rowLayout(file string, sn *rig.Sensor, n int, cycleS, gridHz float64, steps int) (bool, error) {
	native := int(math.Round(sn.RateHz * cycleS))
	switch n {
	case steps:
		return true, nil
	case native:
		return false, nil
	}
	if native == steps {
		return false, fmt.Errorf("%w: %s line 1 has %d values; sensor %s wants %d (rate_hz %g and the %g Hz grid over cycle_s %g)",
			ErrData, file, n, sn.ID, steps, sn.RateHz, gridHz, cycleS)
	}
	return false, fmt.Errorf("%w: %s line 1 has %d values; sensor %s wants %d (the %g Hz grid over cycle_s %g) or %d (rate_hz %g over cycle_s %g)",
		ErrData, file, n, sn.ID, steps, gridHz, cycleS, native, sn.RateHz, cycleS)
}

// checkRange refuses a value of line (1-based) of file outside the
// sensor's range widened by rig.DefaultRangeTolerance: the agent's ingest
// drops such readings, so a model must not learn from them.
func checkRange(file string, line int, sn *rig.Sensor, row []float64) error {
	for j, v := range row {
		if !sn.Range.Accepts(v, rig.DefaultRangeTolerance) {
			lo, hi := sn.Range.Tolerated(rig.DefaultRangeTolerance)
			return fmt.Errorf("%w: %s line %d column %d: %s value %g is outside its range [%g, %g] and the %g %% tolerance [%g, %g] (the agent drops such readings)",
				ErrData, file, line, j+1, sn.ID, v, sn.Range.Min, sn.Range.Max, 100*rig.DefaultRangeTolerance, lo, hi)
		}
	}
	return nil
}

// Check reports whether d's slices agree with each other and with the
// rig's targets: one grid, one label row of len(targets) classes and one
// group per window (and one cycle number, when CycleIDs is set), and
// every label a class index of its target (0 to
// len(Classes)-1) or -1 for unknown. Code that indexes Labels or Groups by
// window (the splits, Subset, training) or a target's classes by label
// (the losses and scores) relies on it.
func (d *Dataset) Check(targets []rig.Target) error {
	n := len(d.Grids)
	if len(d.Labels) != n || len(d.Groups) != n {
		return fmt.Errorf("%w: %s has %d windows, %d label rows and %d groups", ErrData, d.Source, n, len(d.Labels), len(d.Groups))
	}
	if d.CycleIDs != nil && len(d.CycleIDs) != n {
		return fmt.Errorf("%w: %s has %d windows and %d cycle numbers", ErrData, d.Source, n, len(d.CycleIDs))
	}
	for i, l := range d.Labels {
		if len(l) != len(targets) {
			return fmt.Errorf("%w: %s window %d has %d labels, want %d targets", ErrData, d.Source, i, len(l), len(targets))
		}
		for j, k := range l {
			if k < -1 || k >= len(targets[j].Classes) {
				return fmt.Errorf("%w: %s window %d target %q: label %d is not a class index (0 to %d, or -1 for unknown)",
					ErrData, d.Source, i, targets[j].Name, k, len(targets[j].Classes)-1)
			}
		}
	}
	return nil
}

// labelsFromProfile maps profile values to class indices.
func labelsFromProfile(cfg *rig.Config, profile [][]float64, file string) ([][]int, error) {
	out := make([][]int, len(profile))
	for c, row := range profile {
		if len(row) != len(cfg.Targets) {
			return nil, fmt.Errorf("%w: %s line %d: %d columns, rig %q has %d targets", ErrData, file, c+1, len(row), cfg.RigType, len(cfg.Targets))
		}
		out[c] = make([]int, len(row))
		for j, v := range row {
			t := &cfg.Targets[j]
			k := t.ClassIndex(v)
			if k < 0 {
				vals := make([]float64, len(t.Classes))
				for i, cl := range t.Classes {
					vals[i] = cl.Value
				}
				return nil, fmt.Errorf("%w: %s line %d column %d: %v is not a class of target %q (classes %v)",
					ErrData, file, c+1, j+1, v, t.Name, vals)
			}
			out[c][j] = k
		}
	}
	return out, nil
}

// RunGroups numbers the contiguous runs of identical condition labels
// (targets of kind condition; flags such as "stable" change within a run
// and are ignored; with no condition target every label counts) in data
// order, starting at 0.
func RunGroups(cfg *rig.Config, labels [][]int) []int {
	var use []int
	for j, t := range cfg.Targets {
		if t.Kind == rig.TargetCondition {
			use = append(use, j)
		}
	}
	if len(use) == 0 {
		for j := range cfg.Targets {
			use = append(use, j)
		}
	}
	groups := make([]int, len(labels))
	g := 0
	for i := range labels {
		if i > 0 {
			for _, j := range use {
				if labels[i][j] != labels[i-1][j] {
					g++
					break
				}
			}
		}
		groups[i] = g
	}
	return groups
}

// Stats computes the normalisation stats of ds's windows with
// prep.StatsAccumulator and returns ds.Spec with them applied. Call it on
// the training split only.
func Stats(ds *Dataset) (prep.Spec, error) {
	acc, err := prep.NewStatsAccumulator(ds.Spec)
	if err != nil {
		return prep.Spec{}, err
	}
	r, err := prep.NewResampler(ds.Spec)
	if err != nil {
		return prep.Spec{}, err
	}
	for i, grid := range ds.Grids {
		w, err := r.FromGrid(grid)
		if err != nil {
			return prep.Spec{}, fmt.Errorf("%s window %d: %w", ds.Source, i, err)
		}
		if err := acc.Add(w); err != nil {
			return prep.Spec{}, err
		}
	}
	return acc.Apply(ds.Spec)
}

// Tensors are a dataset prepared for the model: flat sensor-major windows
// x and mask [n, S, T] from prep.FromGrid with a spec's stats.
type Tensors struct {
	N, S, T int
	X, Mask []float32
}

// Tensorize prepares every window of ds with spec (which must have ds's
// sensors and steps) through prep's Resampler.FromGrid.
func Tensorize(ds *Dataset, spec prep.Spec) (*Tensors, error) {
	r, err := prep.NewResampler(spec)
	if err != nil {
		return nil, err
	}
	S, T := len(spec.Sensors), spec.Steps
	out := &Tensors{N: ds.Len(), S: S, T: T, X: make([]float32, 0, ds.Len()*S*T), Mask: make([]float32, 0, ds.Len()*S*T)}
	for i, grid := range ds.Grids {
		w, err := r.FromGrid(grid)
		if err != nil {
			return nil, fmt.Errorf("%s window %d: %w", ds.Source, i, err)
		}
		out.X = append(out.X, w.Values...)
		out.Mask = append(out.Mask, w.Mask...)
	}
	return out, nil
}

// checkCompatible reports whether spec fits the rig's sensors in order.
func checkCompatible(cfg *rig.Config, spec prep.Spec) error {
	var ids []string
	for _, s := range cfg.ActiveSensors() {
		ids = append(ids, s.ID)
	}
	var got []string
	for _, s := range spec.Sensors {
		got = append(got, s.ID)
	}
	if !slices.Equal(ids, got) {
		return fmt.Errorf("%w: data has sensors %v, rig %q has %v", ErrData, got, cfg.RigType, ids)
	}
	return nil
}
