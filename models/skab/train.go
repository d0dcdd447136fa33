package skab

import (
	"context"
	"fmt"
	"io"
	"math"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// CalibRows is the protocol's number of leading rows per file that are
// anomaly-free and may be used for fitting and calibration.
const CalibRows = 400

// Options configure Train and Bench. Every zero field means its default,
// stated on the field.
type Options struct {
	// Steps is the window length T in rows (1 Hz: seconds) (0: 30). The
	// score of row r comes from the window of rows r-T+1..r.
	Steps int
	// CalibRows are the leading rows of each file used for calibration
	// and fitting (0: CalibRows, the protocol's 400).
	CalibRows int
	// Block is the length in rows of the blocks an anomaly-free run is
	// cut into for training (0: CalibRows): each block is calibrated on
	// itself, exactly like an experiment file's calibration rows, so
	// every training window is a window of calibration-like data.
	Block int
	// NoFree leaves the anomaly-free runs out of training (only the
	// calibration rows of the experiment files are used).
	NoFree bool
	// TrainStride is the distance in rows between training windows
	// (0: 2).
	TrainStride int
	// Sizes are the GNN's sizes (zero fields: gnn.DefaultSizes).
	Sizes gnn.Sizes
	// Epochs (0: 20), BatchSize (0: 32), LR (0: 2e-3), Seed.
	Epochs, BatchSize int
	LR                float64
	Seed              uint64
	// Backend is the GoMLX backend (gnn.NewBackend; "": pure Go).
	Backend string
	// AnomalyQuantile is the quantile of the training windows' per-sensor
	// reconstruction error kept as the bundle's per-sensor threshold
	// (0: 0.99).
	AnomalyQuantile float64
}

func (o *Options) defaults() {
	defi := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defi(&o.Steps, 30)
	defi(&o.CalibRows, CalibRows)
	defi(&o.Block, o.CalibRows)
	defi(&o.TrainStride, 2)
	defi(&o.Epochs, 20)
	defi(&o.BatchSize, 32)
	if o.LR == 0 {
		o.LR = 2e-3
	}
	if o.AnomalyQuantile == 0 {
		o.AnomalyQuantile = 0.99
	}
}

// Model is a GNN trained for SKAB-style anomaly detection.
type Model struct {
	// Rig is the config the model is for.
	Rig *rig.Config
	// Options are the resolved options it was trained with.
	Options Options
	// Result is the trainer's result: Result.Model, Result.Weights (the
	// exporter's input) and Result.Spec, the input spec of the model in
	// calibrated units (see Compose).
	Result *train.Result
	// Base is the rig's raw input spec (prep.SpecFromConfig, 1 Hz, T
	// steps, sliding with stride 1) with the identity normalisation; a
	// file's calibration fills its stats (Calibrate).
	Base prep.Spec
	// FreeCalib is Base calibrated on the first CalibRows rows of the
	// anomaly-free run (a run's calibration, as every training block was
	// calibrated): the default calibration of a shipped bundle, to be
	// replaced in the field by Calibrate on the rig's own first
	// CalibRows seconds of normal operation.
	FreeCalib prep.Spec
	// Detector turns the per-sensor errors into row decisions.
	Detector Detector
}

// BaseSpec returns cfg's raw input spec for SKAB-style data: 1 Hz, steps
// rows, sliding windows with stride 1, identity normalisation.
func BaseSpec(cfg *rig.Config, steps int) (prep.Spec, error) {
	spec, err := prep.SpecFromConfig(cfg, 1, steps)
	if err != nil {
		return prep.Spec{}, err
	}
	spec.Alignment, spec.StrideSteps = prep.AlignSliding, 1
	return spec, spec.Validate()
}

// unitSpec is the spec of calibrated (dimensionless) values that the
// trainer normalises a second time: no kind, unit or range.
func unitSpec(base prep.Spec) prep.Spec {
	u := base
	u.Sensors = append([]prep.SensorSpec(nil), base.Sensors...)
	for i := range u.Sensors {
		u.Sensors[i].Kind, u.Sensors[i].Unit, u.Sensors[i].Range = "", "", rig.Range{}
		u.Sensors[i].Mean, u.Sensors[i].Std = 0, 1
	}
	return u
}

// Compose returns the single spec equivalent to preparing raw values with
// calib and the result again with model (x -> ((x-m1)/s1 - m2)/s2), so
// that one prep pass over raw readings gives the model's input: the input
// spec of a bundle calibrated with calib.
func Compose(calib, model prep.Spec) (prep.Spec, error) {
	if len(calib.Sensors) != len(model.Sensors) {
		return prep.Spec{}, fmt.Errorf("%w: compose specs of %d and %d sensors", ErrData, len(calib.Sensors), len(model.Sensors))
	}
	out := calib
	out.Sensors = append([]prep.SensorSpec(nil), calib.Sensors...)
	out.Steps, out.StrideSteps, out.Alignment = model.Steps, model.StrideSteps, model.Alignment
	for i := range out.Sensors {
		c, m := calib.Sensors[i], model.Sensors[i]
		if c.ID != m.ID {
			return prep.Spec{}, fmt.Errorf("%w: compose: sensor %d is %q and %q", ErrData, i, c.ID, m.ID)
		}
		out.Sensors[i].Mean = c.Mean + c.Std*m.Mean
		out.Sensors[i].Std = c.Std * m.Std
	}
	return out, out.Validate()
}

// segment is a stretch of rows of a series calibrated on its first rows.
type segment struct {
	series   *Series
	from, to int
	values   [][]float64 // calibrated, [sensor][row-from]
}

// calibrated returns rows [from, to) of s normalised with the stats of
// rows [from, from+calib).
func calibrated(base prep.Spec, s *Series, from, to, calib int) (*segment, error) {
	spec, err := Calibrate(base, s, from, from+calib)
	if err != nil {
		return nil, err
	}
	v, err := Normalize(spec, s, from, to)
	if err != nil {
		return nil, err
	}
	return &segment{series: s, from: from, to: to, values: v}, nil
}

// windowsOf appends to ds the windows of seg ending at rows end (relative
// to seg.from), sharing seg's storage, with unknown labels.
func windowsOf(ds *train.Dataset, seg *segment, T int, ends []int, group, targets int) {
	for _, e := range ends {
		grid := make([][]float64, len(seg.values))
		for i, row := range seg.values {
			grid[i] = row[e-T+1 : e+1 : e+1]
		}
		lab := make([]int, targets)
		for j := range lab {
			lab[j] = -1
		}
		ds.Grids = append(ds.Grids, grid)
		ds.Labels = append(ds.Labels, lab)
		ds.Groups = append(ds.Groups, group)
	}
}

// blocks returns the starts of the whole blocks of size rows in n rows.
func blocks(n, size int) []int {
	var out []int
	for from := 0; from+size <= n; from += size {
		out = append(out, from)
	}
	return out
}

// trainingSet builds the normal windows: the anomaly-free runs cut into
// blocks, and the calibration rows of every experiment file, each
// calibrated on itself.
func trainingSet(cfg *rig.Config, base prep.Spec, set *Set, o Options) (*train.Dataset, error) {
	ds := &train.Dataset{Spec: unitSpec(base), Source: "skab:" + set.Dir}
	T, C := o.Steps, o.CalibRows
	if T > C {
		return nil, fmt.Errorf("%w: window of %d rows is longer than the %d calibration rows", ErrData, T, C)
	}
	group := 0
	stride := func(from, to int) []int {
		var ends []int
		for e := from; e < to; e += o.TrainStride {
			ends = append(ends, e)
		}
		return ends
	}
	for _, s := range set.Free {
		if o.NoFree {
			break
		}
		for _, from := range blocks(s.Rows(), o.Block) {
			seg, err := calibrated(base, s, from, from+o.Block, o.Block)
			if err != nil {
				return nil, err
			}
			windowsOf(ds, seg, T, stride(T-1, o.Block), group, len(cfg.Targets))
			group++
		}
	}
	for _, s := range set.Experiments {
		if s.Rows() <= C {
			return nil, fmt.Errorf("%w: %s has %d rows; the protocol needs more than %d", ErrData, s.Name, s.Rows(), C)
		}
		seg, err := calibrated(base, s, 0, C, C)
		if err != nil {
			return nil, err
		}
		windowsOf(ds, seg, T, stride(T-1, C), group, len(cfg.Targets))
		group++
	}
	if ds.Len() == 0 {
		return nil, fmt.Errorf("%w: %s gives no training windows", ErrData, set.Dir)
	}
	return ds, nil
}

// Train trains the GNN's reconstruction head on the normal data of set:
// the anomaly-free runs (cut into Block-row blocks) and the first
// CalibRows rows of every experiment file, each calibrated on its own
// first CalibRows rows. Labels are never read. progress gets the
// trainer's per-epoch lines (nil: none).
func Train(ctx context.Context, cfg *rig.Config, set *Set, o Options, progress io.Writer) (*Model, error) {
	o.defaults()
	if cfg == nil || set == nil {
		return nil, fmt.Errorf("%w: nil config or set", ErrData)
	}
	if len(set.Free) == 0 && len(set.Experiments) == 0 {
		return nil, fmt.Errorf("%w: %s holds no SKAB files", ErrData, set.Dir)
	}
	base, err := BaseSpec(cfg, o.Steps)
	if err != nil {
		return nil, err
	}
	ds, err := trainingSet(cfg, base, set, o)
	if err != nil {
		return nil, err
	}
	res, err := train.Run(ctx, train.Options{
		Rig: cfg, Train: ds, ValFraction: -1, Sizes: o.Sizes, Epochs: o.Epochs, Patience: -1,
		BatchSize: o.BatchSize, LR: o.LR, ReconWeight: 1, Seed: o.Seed, Backend: o.Backend,
		AnomalyQuantile: o.AnomalyQuantile,
		// No weight averaging: the detector is calibrated on the last
		// epoch's weights, as measured in docs/skab.md.
		EMA: -1,
	}, progress)
	if err != nil {
		return nil, err
	}
	m := &Model{Rig: cfg, Options: o, Result: res, Base: base, FreeCalib: base}
	if len(set.Free) > 0 {
		// The bundle's default calibration: the start of the anomaly-free
		// run, calibrated like every training block.
		s := set.Free[0]
		if m.FreeCalib, err = Calibrate(base, s, 0, min(s.Rows(), o.CalibRows)); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Errors returns the model's per-sensor reconstruction error for every
// row of s, calibrated on rows [0, calib): errs[r*S+s]. Row r's error is
// that of the window of rows r-T+1..r; rows before the first full window
// (r < T-1) take the first full window's error.
func (m *Model) Errors(s *Series, calib int) ([]float64, error) {
	res, err := m.ErrorsBatch([]*Series{s}, calib)
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// ErrorsBatch is Errors for many series with one compiled model.
func (m *Model) ErrorsBatch(ss []*Series, calib int) ([][]float64, error) {
	return m.ErrorsBatchContext(context.Background(), ss, calib)
}

// ErrorsBatchContext is ErrorsBatch stopped by ctx (train.PredictContext:
// checked per batch of windows).
func (m *Model) ErrorsBatchContext(ctx context.Context, ss []*Series, calib int) ([][]float64, error) {
	T := m.Options.Steps
	ds := &train.Dataset{Spec: unitSpec(m.Base), Source: "skab"}
	type span struct{ start, rows int }
	var spans []span
	for g, s := range ss {
		n := s.Rows()
		if n < T || n < calib {
			return nil, fmt.Errorf("%w: %s has %d rows, fewer than the %d-row window or the %d calibration rows", ErrData, s.Name, n, T, calib)
		}
		seg, err := calibrated(m.Base, s, 0, n, calib)
		if err != nil {
			return nil, err
		}
		spans = append(spans, span{ds.Len(), n})
		ends := make([]int, 0, n-T+1)
		for e := T - 1; e < n; e++ {
			ends = append(ends, e)
		}
		windowsOf(ds, seg, T, ends, g, len(m.Rig.Targets))
	}
	p, err := train.PredictContext(ctx, m.Rig, m.Result.Model, m.Result.Weights, m.Result.Spec, ds, m.Options.Backend, 64)
	if err != nil {
		return nil, err
	}
	S := len(m.Base.Sensors)
	out := make([][]float64, len(ss))
	for k, sp := range spans {
		e := make([]float64, sp.rows*S)
		for r := range sp.rows {
			w := sp.start + max(r-(T-1), 0)
			for i := range S {
				v := float64(p.Anomaly[w*S+i])
				if math.IsNaN(v) || math.IsInf(v, 0) {
					return nil, fmt.Errorf("%w: %s row %d: reconstruction error of %s is %v", ErrData, ss[k].Name, r+1, m.Base.Sensors[i].ID, v)
				}
				e[r*S+i] = v
			}
		}
		out[k] = e
	}
	return out, nil
}
