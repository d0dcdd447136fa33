package skab

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
)

// Detector turns a file's calibrated values and the GNN's per-sensor
// reconstruction errors into one score per row; a row is anomalous when
// its score exceeds 1. Two per-sensor terms, each divided by its scale
// and threshold, and the row's score is the largest of them:
//
//   - error term: the GNN's reconstruction error of the sensor (the
//     window ending at the row), averaged over the last Smooth rows,
//     divided by ErrorScale[s]·ErrorK;
//   - level term: |mean of the sensor's calibrated values over the same
//     window| (a T² on the window means with a diagonal covariance),
//     divided by LevelScale[s]·LevelK;
//   - short level term (only when ShortSteps > 0): the same over the
//     last ShortSteps rows, divided by ShortScale[s]·ShortK: a shorter
//     window reacts sooner to a large shift, at a wider scale.
//
// The scales are fitted on normal data only (FitDetector): the Quantile
// of each term over the second half of every calibration block, with the
// block's first half as its calibration: how far a sensor wanders from a
// fresh calibration in normal operation. A sensor that drifts in normal
// operation (the motor temperature) gets a wide scale; a steady one (the
// flow) a narrow one. Unless PooledOnly, each file's own calibration rows
// widen its scales (see PooledOnly).
type Detector struct {
	// Steps is the window length T (rows) of the model and of the level
	// term.
	Steps int `json:"steps"`
	// Smooth is the length in rows of the causal moving average of each
	// sensor's error.
	Smooth int `json:"smooth"`
	// Quantile is the quantile of the normal split-half values that sets
	// each scale.
	Quantile float64 `json:"quantile"`
	// LevelScale and ErrorScale are per sensor (model order).
	LevelScale []float64 `json:"level_scale"`
	ErrorScale []float64 `json:"error_scale"`
	// LevelK and ErrorK are the thresholds on the scaled terms.
	LevelK float64 `json:"level_k"`
	ErrorK float64 `json:"error_k"`
	// PooledOnly: score with the pooled scales alone. Otherwise (the
	// default) each scored file's scales are widened to those of its own
	// calibration rows (fitted the same split-half way) where they are
	// larger: a file whose start already drifts or is noisier than usual
	// gets wider scales, never narrower than the pooled ones.
	PooledOnly bool `json:"pooled_only,omitempty"`
	// ShortSteps is the window of the short level term in rows (0: no
	// such term); ShortScale (per sensor) and ShortK are its scale and
	// threshold, fitted like the level term's.
	ShortSteps int       `json:"short_steps,omitempty"`
	ShortScale []float64 `json:"short_scale,omitempty"`
	ShortK     float64   `json:"short_k,omitempty"`
}

// DetectorOptions configure FitDetector. Zero fields take the defaults
// stated.
type DetectorOptions struct {
	// Smooth (0: 10 rows), Quantile (0: 0.95), LevelK (0: 1.5), ErrorK
	// (0: 3); a negative LevelK or ErrorK switches that term off.
	Smooth   int     `json:"smooth"`
	Quantile float64 `json:"quantile"`
	LevelK   float64 `json:"level_k"`
	ErrorK   float64 `json:"error_k"`
	// ErrorFloor and LevelFloor floor the scales (0: 0.1 and 0.1, in
	// calibrated units: squared for errors): a sensor that is smooth in
	// calibration (the water temperature) must not turn noise-level
	// deviations into alarms.
	ErrorFloor float64 `json:"error_floor"`
	LevelFloor float64 `json:"level_floor"`
	// PooledOnly scores every file with the pooled scales (an ablation;
	// see Detector.PooledOnly).
	PooledOnly bool `json:"pooled_only,omitempty"`
	// ShortSteps adds the short level term over that many rows (0: none;
	// it must be shorter than the model's window) with threshold ShortK
	// (0: 1.5).
	ShortSteps int     `json:"short_steps,omitempty"`
	ShortK     float64 `json:"short_k,omitempty"`
}

func (o *DetectorOptions) defaults() {
	o.Smooth = cmp.Or(o.Smooth, 10)
	o.Quantile = cmp.Or(o.Quantile, 0.95)
	o.LevelK = cmp.Or(o.LevelK, 1.5)
	o.ErrorK = cmp.Or(o.ErrorK, 3)
	o.ErrorFloor = cmp.Or(o.ErrorFloor, 0.1)
	o.LevelFloor = cmp.Or(o.LevelFloor, 0.1)
	if o.ShortSteps > 0 {
		o.ShortK = cmp.Or(o.ShortK, 1.5)
	}
}

// features are a series' per-row, per-sensor detector inputs.
type features struct {
	rows, sensors int
	level, err    []float64 // [row*S+s]
	// vals are the calibrated values [sensor][row] (for the short level
	// term, computed on demand by levelOver).
	vals  [][]float64
	short map[int][]float64
}

// levelOver returns the level feature over windows of w rows (cached).
func (f *features) levelOver(w int) []float64 {
	if v, ok := f.short[w]; ok {
		return v
	}
	if f.short == nil {
		f.short = map[int][]float64{}
	}
	v := levelFeature(f.vals, w)
	f.short[w] = v
	return v
}

// levelFeature returns |mean over the window of rows r-T+1..r| of each
// calibrated sensor row (rows before the first full window: the first
// full window's value).
func levelFeature(vals [][]float64, T int) []float64 {
	S, n := len(vals), len(vals[0])
	out := make([]float64, n*S)
	for s, row := range vals {
		sum := 0.0
		for r, v := range row {
			sum += v
			if r >= T {
				sum -= row[r-T]
			}
			if r >= T-1 {
				out[r*S+s] = math.Abs(sum / float64(T))
			}
		}
		for r := 0; r < min(T-1, n); r++ {
			out[r*S+s] = out[min(T-1, n-1)*S+s]
		}
	}
	return out
}

// smooth returns the causal moving average of each sensor's column of
// e ([row*S+s]) over the last k rows (fewer at the start).
func smooth(e []float64, S, k int) []float64 {
	n := len(e) / S
	out := make([]float64, len(e))
	for s := range S {
		sum := 0.0
		for r := range n {
			sum += e[r*S+s]
			if r >= k {
				sum -= e[(r-k)*S+s]
			}
			out[r*S+s] = sum / float64(min(r+1, k))
		}
	}
	return out
}

// quantile returns the q quantile of v (sorted in place).
func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	return v[min(len(v)-1, max(0, int(math.Ceil(q*float64(len(v))))-1))]
}

// Score returns each row's score (anomalous when > 1) and, per row, the
// sensor and term that set it.
type Score struct {
	// Value[r] is row r's score.
	Value []float64
	// Sensor[r] is the index of the sensor whose term set Value[r];
	// Level[r] reports whether it was the level term.
	Sensor []int
	Level  []bool
}

// Anomalous reports whether row r is anomalous.
func (s *Score) Anomalous(r int) bool { return s.Value[r] > 1 }

// score applies d to features.
func (d *Detector) score(f *features) *Score {
	sc := &Score{Value: make([]float64, f.rows), Sensor: make([]int, f.rows), Level: make([]bool, f.rows)}
	S := f.sensors
	sm := smooth(f.err, S, d.Smooth)
	var short []float64
	if d.ShortSteps > 0 {
		short = f.levelOver(d.ShortSteps)
	}
	for r := range f.rows {
		best, bs, bl := math.Inf(-1), 0, false
		for s := range S {
			if d.ErrorK > 0 {
				if v := sm[r*S+s] / (d.ErrorScale[s] * d.ErrorK); v > best {
					best, bs, bl = v, s, false
				}
			}
			if d.LevelK > 0 {
				if v := f.level[r*S+s] / (d.LevelScale[s] * d.LevelK); v > best {
					best, bs, bl = v, s, true
				}
			}
			if short != nil {
				if v := short[r*S+s] / (d.ShortScale[s] * d.ShortK); v > best {
					best, bs, bl = v, s, true
				}
			}
		}
		sc.Value[r], sc.Sensor[r], sc.Level[r] = best, bs, bl
	}
	return sc
}

// fitScales sets the detector's per-sensor scales from split-half
// features: rows [from, n) of each feature set are out-of-sample normal
// rows.
func (d *Detector) fitScales(fs []*features, from []int, o DetectorOptions) error {
	if len(fs) == 0 {
		return fmt.Errorf("%w: no calibration blocks to fit the detector on", ErrData)
	}
	S := fs[0].sensors
	d.LevelScale, d.ErrorScale = make([]float64, S), make([]float64, S)
	if d.ShortSteps > 0 {
		d.ShortScale = make([]float64, S)
	}
	for s := range S {
		var lv, ev, sv []float64
		for k, f := range fs {
			sm := smooth(f.err, S, d.Smooth)
			var short []float64
			if d.ShortSteps > 0 {
				short = f.levelOver(d.ShortSteps)
			}
			for r := from[k]; r < f.rows; r++ {
				lv = append(lv, f.level[r*S+s])
				ev = append(ev, sm[r*S+s])
				if short != nil {
					sv = append(sv, short[r*S+s])
				}
			}
		}
		if len(lv) == 0 {
			return fmt.Errorf("%w: calibration blocks too short to fit the detector (window %d, smoothing %d)", ErrData, d.Steps, d.Smooth)
		}
		d.LevelScale[s] = max(quantile(lv, o.Quantile), o.LevelFloor)
		d.ErrorScale[s] = max(quantile(ev, o.Quantile), o.ErrorFloor)
		if d.ShortSteps > 0 {
			d.ShortScale[s] = max(quantile(sv, o.Quantile), o.LevelFloor)
		}
	}
	return nil
}

// slice returns rows [from, to) of s as a series sharing its storage.
func (s *Series) slice(from, to int) *Series {
	out := &Series{Name: fmt.Sprintf("%s rows %d-%d", s.Name, from+1, to), Sensors: s.Sensors,
		Values: make([][]float64, len(s.Values))}
	for i, row := range s.Values {
		out.Values[i] = row[from:to:to]
	}
	if s.Anomaly != nil {
		out.Anomaly = s.Anomaly[from:to:to]
	}
	return out
}

// calibBlocks returns the normal blocks the detector is fitted on: the
// calibration rows of every experiment file, or, for a set without
// experiments (a bundle trained on the anomaly-free run alone), the
// anomaly-free runs cut into blocks. The experiments' own starts are the
// closer reference for the files scored: the anomaly-free run was
// recorded on another day at another operating point, and its blocks
// drift differently (its flow dips by several l/min now and then).
func (m *Model) calibBlocks(set *Set) []*Series {
	o := m.Options
	var out []*Series
	for _, s := range set.Experiments {
		if s.Rows() >= o.CalibRows {
			out = append(out, s.slice(0, o.CalibRows))
		}
	}
	if len(out) > 0 {
		return out
	}
	for _, s := range set.Free {
		for _, from := range blocks(s.Rows(), o.Block) {
			out = append(out, s.slice(from, from+o.Block))
		}
	}
	return out
}

// features computes the detector's inputs for each series, calibrated on
// its first calib rows.
func (m *Model) features(ctx context.Context, ss []*Series, calib int) ([]*features, error) {
	errs, err := m.ErrorsBatchContext(ctx, ss, calib)
	if err != nil {
		return nil, err
	}
	out := make([]*features, len(ss))
	for k, s := range ss {
		seg, err := calibrated(m.Base, s, 0, s.Rows(), calib)
		if err != nil {
			return nil, err
		}
		out[k] = &features{rows: s.Rows(), sensors: len(s.Sensors), level: levelFeature(seg.values, m.Options.Steps), err: errs[k],
			vals: seg.values}
	}
	return out, nil
}

// FitDetector fits m.Detector on set's normal calibration blocks (see
// calibBlocks; labels are never read), each split in halves: the first
// half calibrates, the second half gives out-of-sample normal values of
// each term.
func (m *Model) FitDetector(set *Set, o DetectorOptions) error {
	return m.FitDetectorContext(context.Background(), set, o)
}

// FitDetectorContext is FitDetector stopped by ctx (checked per batch of
// the model's windows).
func (m *Model) FitDetectorContext(ctx context.Context, set *Set, o DetectorOptions) error {
	fs, err := m.splitHalf(ctx, m.calibBlocks(set))
	if err != nil {
		return err
	}
	d, err := m.fitDetector(fs, o)
	if err != nil {
		return err
	}
	m.Detector = *d
	return nil
}

// splitHalf computes the features of normal blocks of CalibRows rows,
// each calibrated on its first half.
func (m *Model) splitHalf(ctx context.Context, blocks []*Series) ([]*features, error) {
	return m.features(ctx, blocks, m.Options.CalibRows/2)
}

// fitDetector fits a detector with o on split-half features: rows from
// CalibRows/2 + T - 1 + Smooth - 1 on are out of sample (their windows
// and smoothing lie in the second half).
func (m *Model) fitDetector(fs []*features, o DetectorOptions) (*Detector, error) {
	o.defaults()
	if o.ShortSteps < 0 || o.ShortSteps >= m.Options.Steps {
		return nil, fmt.Errorf("%w: short level window of %d rows: want 1..%d (shorter than the model's window)", ErrData, o.ShortSteps, m.Options.Steps-1)
	}
	d := &Detector{Steps: m.Options.Steps, Smooth: o.Smooth, Quantile: o.Quantile, LevelK: o.LevelK, ErrorK: o.ErrorK,
		PooledOnly: o.PooledOnly, ShortSteps: o.ShortSteps, ShortK: o.ShortK}
	from := make([]int, len(fs))
	for k := range fs {
		from[k] = m.Options.CalibRows/2 + d.Steps - 1 + d.Smooth - 1
	}
	if err := d.fitScales(fs, from, o); err != nil {
		return nil, err
	}
	return d, nil
}

// widened returns d with each scale raised to own's where own's is
// larger.
func (d *Detector) widened(own *Detector) *Detector {
	w := *d
	w.LevelScale, w.ErrorScale = slices.Clone(d.LevelScale), slices.Clone(d.ErrorScale)
	w.ShortScale = slices.Clone(d.ShortScale)
	for s := range w.LevelScale {
		w.LevelScale[s] = max(w.LevelScale[s], own.LevelScale[s])
		w.ErrorScale[s] = max(w.ErrorScale[s], own.ErrorScale[s])
		if w.ShortScale != nil {
			w.ShortScale[s] = max(w.ShortScale[s], own.ShortScale[s])
		}
	}
	return &w
}

// scoring holds what scoring a list of series needs from the model: the
// features of every row and, unless the detector is pooled-only, the
// split-half features of each series' calibration rows.
type scoring struct {
	feats, own []*features
}

func (m *Model) prepareScoring(ss []*Series, pooledOnly bool) (*scoring, error) {
	C := m.Options.CalibRows
	var sc scoring
	var err error
	if sc.feats, err = m.features(context.Background(), ss, C); err != nil {
		return nil, err
	}
	if !pooledOnly {
		heads := make([]*Series, len(ss))
		for k, s := range ss {
			heads[k] = s.slice(0, C)
		}
		if sc.own, err = m.splitHalf(context.Background(), heads); err != nil {
			return nil, err
		}
	}
	return &sc, nil
}

// scoreAll scores prepared series with d (fitted with o).
func (m *Model) scoreAll(sc *scoring, d *Detector, o DetectorOptions) ([]*Score, error) {
	out := make([]*Score, len(sc.feats))
	for k, f := range sc.feats {
		dk := d
		if !d.PooledOnly {
			own, err := m.fitDetector(sc.own[k:k+1], o)
			if err != nil {
				return nil, err
			}
			dk = d.widened(own)
		}
		out[k] = dk.score(f)
	}
	return out, nil
}

// Score scores every row of each series, calibrated on its first
// Options.CalibRows rows, with m.Detector (FitDetector first).
func (m *Model) Score(ss []*Series) ([]*Score, error) {
	d := &m.Detector
	if len(d.LevelScale) != len(m.Base.Sensors) || (d.ShortSteps > 0 && len(d.ShortScale) != len(m.Base.Sensors)) {
		return nil, fmt.Errorf("%w: the model's detector is not fitted", ErrData)
	}
	sc, err := m.prepareScoring(ss, d.PooledOnly)
	if err != nil {
		return nil, err
	}
	return m.scoreAll(sc, d, d.options())
}

// options returns the options d was fitted with (floors at their
// defaults).
func (d *Detector) options() DetectorOptions {
	o := DetectorOptions{Smooth: d.Smooth, Quantile: d.Quantile, LevelK: d.LevelK, ErrorK: d.ErrorK, PooledOnly: d.PooledOnly,
		ShortSteps: d.ShortSteps, ShortK: d.ShortK}
	o.defaults()
	return o
}

// Thresholds returns, per sensor (model order), the reconstruction error
// above which the sensor's smoothed error makes a row anomalous
// (ErrorScale·ErrorK): the bundle's per-sensor anomaly thresholds.
func (m *Model) Thresholds() []float64 {
	out := make([]float64, len(m.Detector.ErrorScale))
	for s, v := range m.Detector.ErrorScale {
		out[s] = v * m.Detector.ErrorK
	}
	return out
}
