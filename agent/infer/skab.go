package infer

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// Provenance keys of a bundle trained by models/skab (models/pipeline
// writes them; the agent reads them with json, so it does not import the
// trainer).
const (
	// SKABOptionsKey holds skab.Options (the agent reads CalibRows).
	SKABOptionsKey = "skab_options"
	// SKABModelNormKey holds the model's own normalisation of calibrated
	// values ({"mean": [...], "std": [...]}, input order), which the
	// manifest's input spec composes with a default calibration.
	SKABModelNormKey = "skab_model_norm"
)

// ErrNoDetector is returned by NewDetector for a bundle that carries no
// SKAB detector (provenance.config.skab_detector).
var ErrNoDetector = errors.New("bundle has no SKAB detector")

// skabParams is what a Detector needs from the manifest.
type skabParams struct {
	Steps      int       `json:"steps"`
	Smooth     int       `json:"smooth"`
	Quantile   float64   `json:"quantile"`
	LevelScale []float64 `json:"level_scale"`
	ErrorScale []float64 `json:"error_scale"`
	LevelK     float64   `json:"level_k"`
	ErrorK     float64   `json:"error_k"`
	PooledOnly bool      `json:"pooled_only"`
	ShortSteps int       `json:"short_steps"`

	calibRows            int
	normMean, normStd    []float64 // the model's own normalisation
	thresholds           []float64 // anomaly head thresholds, input order
	headIdx              []int     // anomaly head element of each input sensor
	levelFloor, errFloor float64
}

// decodeKey re-decodes provenance.config[key] (a JSON object) into v.
func decodeKey(man *bundle.Manifest, key string, v any) error {
	raw, ok := man.Provenance.Config[key]
	if !ok {
		return fmt.Errorf("provenance.config has no %q", key)
	}
	b, err := json.Marshal(raw)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return fmt.Errorf("provenance.config.%s: %w", key, err)
	}
	return nil
}

// skabParamsOf reads and checks the SKAB detector of m's bundle.
func (m *Model) skabParamsOf() (*skabParams, error) {
	man := m.manifest
	if _, ok := man.Provenance.Config[SKABDetectorKey]; !ok {
		return nil, fmt.Errorf("infer: %w: bundle %s %s", ErrNoDetector, man.Name, man.Version)
	}
	var p skabParams
	var opts struct{ CalibRows int }
	var norm struct{ Mean, Std []float64 }
	err := errors.Join(decodeKey(man, SKABDetectorKey, &p), decodeKey(man, SKABOptionsKey, &opts),
		decodeKey(man, SKABModelNormKey, &norm))
	if err != nil {
		return nil, fmt.Errorf("infer: %w: bundle %s %s: SKAB detector (rebuild the bundle with this version of rigctl train): %w",
			bundle.ErrInvalid, man.Name, man.Version, err)
	}
	p.calibRows, p.normMean, p.normStd = opts.CalibRows, norm.Mean, norm.Std
	p.levelFloor, p.errFloor = 0.1, 0.1
	S := m.S
	var bad []string
	if len(p.LevelScale) != S || len(p.ErrorScale) != S || len(p.normMean) != S || len(p.normStd) != S {
		bad = append(bad, fmt.Sprintf("want %d level and error scales and model mean/std, have %d, %d, %d, %d",
			S, len(p.LevelScale), len(p.ErrorScale), len(p.normMean), len(p.normStd)))
	}
	if p.Steps != m.T || p.Smooth < 1 || p.calibRows < 2*(m.T+p.Smooth) || p.Quantile <= 0 || p.Quantile > 1 {
		bad = append(bad, fmt.Sprintf("steps %d (input %d), smooth %d, calibration rows %d, quantile %v",
			p.Steps, m.T, p.Smooth, p.calibRows, p.Quantile))
	}
	if p.ShortSteps > 0 {
		bad = append(bad, fmt.Sprintf("short level term (%d rows) is not implemented by the agent", p.ShortSteps))
	}
	if m.manifest.Input.StrideSteps != 1 || m.manifest.Input.Alignment != prep.AlignSliding {
		bad = append(bad, "the input is not sliding windows of stride 1")
	}
	p.thresholds, p.headIdx = make([]float64, S), make([]int, S)
	found := false
	for _, h := range m.heads {
		if h.head.Kind != bundle.HeadAnomaly {
			continue
		}
		found = true
		for k, si := range h.sensorIdx {
			p.thresholds[si], p.headIdx[si] = h.head.Thresholds[k], k
		}
		if len(h.sensorIdx) != S {
			bad = append(bad, "the anomaly head does not cover every input sensor")
		}
	}
	if !found {
		bad = append(bad, "no anomaly head")
	}
	for i := range min(S, len(p.normStd)) {
		if !(p.normStd[i] > 0) {
			bad = append(bad, fmt.Sprintf("model std of sensor %d is %v", i, p.normStd[i]))
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("infer: %w: bundle %s %s: SKAB detector: %v", bundle.ErrInvalid, man.Name, man.Version, bad)
	}
	return &p, nil
}

// Calibration is a deployment's SKAB calibration: what a Detector learnt
// from the rig's first CalibRows rows of assumed-normal operation.
// Persist it (it is JSON) and hand it to NewDetector after a restart so
// the rig is not calibrated again.
type Calibration struct {
	// Bundle is the manifest digest of the bundle it was made with; a
	// Calibration is refused by a Detector of another bundle.
	Bundle string `json:"bundle"`
	// Rows is the number of rows it was computed on.
	Rows int `json:"rows"`
	// Mean and Std are each input sensor's raw calibration (prep's
	// StatsAccumulator over the rows, std floored by prep's rule).
	Mean []float64 `json:"mean"`
	Std  []float64 `json:"std"`
	// LevelScale and ErrorScale are the scales in use: the bundle's
	// pooled scales, widened (unless the detector is pooled-only) to
	// those fitted split-half on the calibration rows.
	LevelScale []float64 `json:"level_scale"`
	ErrorScale []float64 `json:"error_scale"`
}

// DetectorScore is a Detector's verdict on one window (Result.Detector).
type DetectorScore struct {
	// Calibrating is true until the detector has seen CalibRows rows;
	// Rows counts the rows seen so far. While calibrating, no sensor is
	// scored (every Score is 0).
	Calibrating     bool
	Rows, CalibRows int
	// Score is the largest scaled term of any sensor; the window is
	// anomalous when it exceeds 1 (Anomalous).
	Score     float64
	Anomalous bool
	// Sensor is the sensor whose term set Score; Level reports whether
	// it was the level term (else the smoothed reconstruction error).
	Sensor string
	Level  bool
	// Scored counts the sensors scored (not masked): 0 when every sensor
	// of the window is missing, and then Score 0 says nothing.
	Scored int
}

// Detector runs, on the edge, the anomaly detector of a bundle trained by
// models/skab (docs/skab.md, "Detector"), reproducing skab.Model.Score
// for a stream of consecutive windows (sliding, stride 1 row):
//
//  1. Calibration: the first CalibRows rows (400 s at 1 Hz) are assumed
//     normal. From them it computes the rig's own calibration (mean/std
//     per sensor) and, unless the detector is pooled-only, widens the
//     bundle's pooled scales to those fitted split-half on these rows (the
//     first half calibrates, the model runs over the rows, the Quantile of
//     each term on the second half). Calibration() then returns the
//     result to persist.
//  2. Scoring: each window is recalibrated (the input spec recomposed
//     with the rig's calibration) and run; per sensor, the error term is
//     the reconstruction error averaged over the last Smooth windows,
//     divided by ErrorScale·ErrorK, and the level term |mean of the
//     calibrated values over the window| divided by LevelScale·LevelK.
//     Each sensor's Score is its larger term; the window's score the
//     largest, anomalous above 1.
//
// Windows must be prepared with the bundle's input spec (Model.Spec) and
// come in order, one per row. A window that does not follow the previous
// one (its Start is not one grid step later; windows with a zero Start
// are taken as consecutive) restarts a calibration in progress and clears
// the smoothing.
//
// Missing cells (mask 0; prep fills them with the default calibration's
// mean) are no readings: the calibration's mean/std and its split-half
// scales use the present cells only (a sensor without any in the
// calibration rows keeps the default calibration and the pooled scales);
// the level term is the mean of the window's present cells; the error
// smoothing averages the windows that scored the sensor. A sensor with no
// cell in the window is Masked and not scored.
//
// A Detector is not safe for concurrent use: use one per rig, from one
// goroutine. Its Model may be shared.
type Detector struct {
	m   *Model
	p   *skabParams
	cal *Calibration

	rows    [][]float64 // raw calibration rows [sensor][row]
	seen    int
	lastEnd time.Time

	// Scoring state: the last Smooth errors per sensor (a ring).
	ring   [][]float64 // [slot][sensor]
	next   int
	filled int
	a, b   []float64 // model input = a·raw + b per sensor
	win    prep.Window
}

// NewDetector returns a Detector for the SKAB detector of m's bundle
// (ErrNoDetector if it has none; bundle.ErrInvalid if it is incomplete,
// e.g. a bundle built before the model normalisation was recorded). cal
// is a persisted Calibration of this bundle, or nil to calibrate on the
// first rows seen.
func (m *Model) NewDetector(cal *Calibration) (*Detector, error) {
	p, err := m.skabParamsOf()
	if err != nil {
		return nil, err
	}
	d := &Detector{m: m, p: p}
	if cal != nil {
		if err := d.SetCalibration(cal); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// CalibRows is the number of rows the detector calibrates on.
func (d *Detector) CalibRows() int { return d.p.calibRows }

// Calibrating reports whether the detector has no calibration yet: the
// window that completes it runs the model over all CalibRows windows in
// batches (under TensorRT, the batch session's engine is built first).
func (d *Detector) Calibrating() bool { return d.cal == nil }

// Calibration returns a copy of the calibration in use, nil while
// calibrating.
func (d *Detector) Calibration() *Calibration {
	if d.cal == nil {
		return nil
	}
	c := *d.cal
	c.Mean, c.Std = slices.Clone(c.Mean), slices.Clone(c.Std)
	c.LevelScale, c.ErrorScale = slices.Clone(c.LevelScale), slices.Clone(c.ErrorScale)
	return &c
}

// SetCalibration replaces the calibration (e.g. a persisted one) and
// clears the smoothing. It refuses one made for another bundle or with
// the wrong number of sensors.
func (d *Detector) SetCalibration(c *Calibration) error {
	S := d.m.S
	if c.Bundle != d.m.digest {
		return fmt.Errorf("infer: detector calibration is for bundle %s, the model is %s: recalibrate", c.Bundle, d.m.digest)
	}
	if len(c.Mean) != S || len(c.Std) != S || len(c.LevelScale) != S || len(c.ErrorScale) != S {
		return fmt.Errorf("infer: detector calibration has %d/%d/%d/%d values, want %d per sensor", len(c.Mean), len(c.Std),
			len(c.LevelScale), len(c.ErrorScale), S)
	}
	for i := range S {
		if !(c.Std[i] > 0) || !(c.LevelScale[i] > 0) || !(c.ErrorScale[i] > 0) {
			return fmt.Errorf("infer: detector calibration of sensor %q: std %v, scales %v and %v must be > 0",
				d.m.manifest.Input.Sensors[i].ID, c.Std[i], c.LevelScale[i], c.ErrorScale[i])
		}
	}
	cc := *c
	d.cal = &cc
	d.rows, d.seen = nil, 0
	d.a, d.b = d.affine(c.Mean, c.Std)
	d.ring, d.next, d.filled = nil, 0, 0
	return nil
}

// Recalibrate drops the calibration: the next CalibRows rows calibrate
// again (e.g. after the rig moved to a new operating point).
func (d *Detector) Recalibrate() {
	d.cal, d.rows, d.seen, d.ring, d.next, d.filled = nil, nil, 0, nil, 0, 0
	d.lastEnd = time.Time{}
}

// affine returns a, b with model input = a·raw + b for the calibration
// mean/std: ((raw - mean)/std - modelMean)/modelStd.
func (d *Detector) affine(mean, std []float64) (a, b []float64) {
	S := d.m.S
	a, b = make([]float64, S), make([]float64, S)
	for i := range S {
		a[i] = 1 / (std[i] * d.p.normStd[i])
		b[i] = -(mean[i]/std[i] + d.p.normMean[i]) / d.p.normStd[i]
	}
	return a, b
}

// raw returns the raw reading of sensor i from a value prepared with the
// bundle's input spec.
func (d *Detector) raw(i int, v float32) float64 {
	s := d.m.manifest.Input.Sensors[i]
	return float64(v)*s.Std + s.Mean
}

// follows reports whether w is the window after the previous one.
func (d *Detector) follows(w *prep.Window) bool {
	if w.Start.IsZero() || d.lastEnd.IsZero() {
		return true
	}
	step := d.m.manifest.Input.CellStart(1)
	return w.Start.Sub(d.lastEnd) == step
}

// Run runs window w (prepared with the bundle's input spec) through the
// detector and the model and writes the result into dst (as RunInto,
// with dst.Detector set and each sensor's Score the detector's). It
// returns the inference time of the window itself; the model runs of the
// calibration (once, when the last calibration row arrives: about
// 2·CalibRows windows) are not counted.
func (d *Detector) Run(dst *Result, w *prep.Window) (time.Duration, error) {
	if err := d.m.checkWindow(w); err != nil {
		return 0, fmt.Errorf("infer: detector: %w: %w", ErrInput, err)
	}
	consecutive := d.follows(w)
	if !w.Start.IsZero() {
		d.lastEnd = w.Start
	}
	if d.cal == nil {
		return d.calibrate(dst, w, consecutive)
	}
	if !consecutive {
		d.ring, d.next, d.filled = nil, 0, 0
	}
	return d.score(dst, w)
}

// calibrate collects w's new rows; with the last one it computes the
// calibration. dst gets the model's result for w with no scores.
func (d *Detector) calibrate(dst *Result, w *prep.Window, consecutive bool) (time.Duration, error) {
	S, T, C := d.m.S, d.m.T, d.p.calibRows
	if !consecutive || d.rows == nil {
		d.rows, d.seen = make([][]float64, S), 0
	}
	from := T - 1 // a following window adds its last row
	if d.seen == 0 {
		from = 0
	}
	for t := from; t < T && d.seen < C; t++ {
		for i := range S {
			// A missing cell (mask 0) is no reading: prep filled it
			// with the default calibration's mean, which must not enter
			// the rig's calibration.
			v := math.NaN()
			if w.Mask[i*T+t] != 0 {
				v = d.raw(i, w.Values[i*T+t])
			}
			d.rows[i] = append(d.rows[i], v)
		}
		d.seen++
	}
	took, err := d.m.RunInto(dst, w)
	if err != nil {
		return 0, err
	}
	for k := range dst.Sensors {
		dst.Sensors[k].Score, dst.Sensors[k].Anomalous = 0, false
	}
	if d.seen == C {
		if err := d.finishCalibration(); err != nil {
			return 0, err
		}
	}
	dst.Detector = &DetectorScore{Calibrating: d.cal == nil, Rows: d.seen, CalibRows: C}
	return took, nil
}

// stats returns the raw calibration of rows [0, n): prep's rule over the
// present cells (missing ones are NaN in d.rows and ignored). A sensor
// without a present cell in those rows keeps the bundle's default
// calibration (the one its input spec was composed with).
func (d *Detector) stats(n int) (mean, std []float64, err error) {
	spec := d.m.manifest.Input
	acc, err := prep.NewStatsAccumulator(spec)
	if err != nil {
		return nil, nil, err
	}
	for i, row := range d.rows {
		for _, v := range row[:n] {
			acc.AddValue(i, v)
		}
	}
	for i, st := range acc.Stats() {
		ss := spec.Sensors[i]
		if st.N == 0 {
			// spec = (raw - M)/Sd composes the default calibration
			// (mean, std) with the model's normalisation: M = mean +
			// std·modelMean, Sd = std·modelStd.
			s := ss.Std / d.p.normStd[i]
			mean, std = append(mean, ss.Mean-d.p.normMean[i]*s), append(std, s)
			continue
		}
		// As prep.StatsAccumulator.Apply: the floor from the new mean.
		ss.Mean = st.Mean
		mean, std = append(mean, st.Mean), append(std, max(st.Std, ss.StdFloor()))
	}
	return mean, std, nil
}

// errorsOver runs the model over the windows of the calibration rows
// ending at rows ends, calibrated with mean/std, and returns each
// window's per-sensor reconstruction error [k][sensor].
func (d *Detector) errorsOver(ends []int, mean, std []float64) ([][]float64, error) {
	S, T := d.m.S, d.m.T
	a, b := d.affine(mean, std)
	out := make([][]float64, 0, len(ends))
	var batch []*prep.Window
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		o, err := d.m.Run(batch)
		if err != nil {
			return fmt.Errorf("infer: detector calibration: %w", err)
		}
		for _, r := range o.Results {
			out = append(out, d.errorsOf(&r))
		}
		batch = batch[:0]
		return nil
	}
	for _, e := range ends {
		w := &prep.Window{Steps: T, Values: make([]float32, S*T), Mask: make([]float32, S*T)}
		for i, id := range d.m.manifest.Input.Sensors {
			present := 0
			for t := range T {
				if v := d.rows[i][e-T+1+t]; !math.IsNaN(v) {
					w.Values[i*T+t] = float32(a[i]*v + b[i])
					w.Mask[i*T+t] = 1
					present++
				}
			}
			if present == 0 {
				w.Missing = append(w.Missing, id.ID)
			}
		}
		batch = append(batch, w)
		if len(batch) == d.m.opts.MaxBatch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	return out, flush()
}

// errorsOf returns r's per-sensor reconstruction errors in input order,
// NaN for a masked sensor (no data in the window: no error).
func (d *Detector) errorsOf(r *Result) []float64 {
	e := make([]float64, d.m.S)
	for i := range e {
		sc := r.Sensors[d.p.headIdx[i]]
		if sc.Masked {
			e[i] = math.NaN()
			continue
		}
		e[i] = sc.Score * d.p.thresholds[i]
	}
	return e
}

// levelOf returns |mean over the present cells of rows [e-T+1, e] of the
// calibrated values| of sensor i; NaN when none is present.
func (d *Detector) levelOf(i, e int, mean, std float64) float64 {
	T := d.m.T
	sum, n := 0.0, 0
	for _, v := range d.rows[i][e-T+1 : e+1] {
		if !math.IsNaN(v) {
			sum += float64(float32((v - mean) / std))
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return math.Abs(sum / float64(n))
}

// meanOf returns the mean of v's non-NaN values and how many there are.
func meanOf(v []float64) (float64, int) {
	sum, n := 0.0, 0
	for _, x := range v {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return sum / float64(n), n
}

// quantile returns the q quantile of v (sorted in place), as models/skab.
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	return v[min(len(v)-1, max(0, int(math.Ceil(q*float64(len(v))))-1))]
}

// finishCalibration computes the calibration from the C rows collected:
// the split-half scales, then the full calibration, and primes the
// smoothing with the errors of the last calibration windows (as
// skab.Model.Score smooths across the calibration rows).
func (d *Detector) finishCalibration() error {
	S, T, C, p := d.m.S, d.m.T, d.p.calibRows, d.p
	c := &Calibration{Bundle: d.m.digest, Rows: C, LevelScale: slices.Clone(p.LevelScale), ErrorScale: slices.Clone(p.ErrorScale)}
	if !p.PooledOnly {
		half := C / 2
		mean, std, err := d.stats(half)
		if err != nil {
			return err
		}
		var ends []int
		for e := T - 1; e < C; e++ {
			ends = append(ends, e)
		}
		errs, err := d.errorsOver(ends, mean, std)
		if err != nil {
			return err
		}
		// Out-of-sample rows: windows and smoothing in the second half.
		// A row whose window has no cell of the sensor gives no level,
		// one whose smoothing has no window scoring it no error: the
		// quantiles are of the rows that observed the sensor (none:
		// the pooled scale stays).
		from := half + T - 1 + p.Smooth - 1
		sm := make([]float64, p.Smooth)
		for i := range S {
			var lv, ev []float64
			for r := from; r < C; r++ {
				if l := d.levelOf(i, r, mean[i], std[i]); !math.IsNaN(l) {
					lv = append(lv, l)
				}
				for k := range p.Smooth {
					sm[k] = errs[r-p.Smooth+1+k-(T-1)][i]
				}
				if e, n := meanOf(sm); n > 0 {
					ev = append(ev, e)
				}
			}
			if len(lv) > 0 {
				c.LevelScale[i] = max(c.LevelScale[i], quantile(lv, p.Quantile), p.levelFloor)
			}
			if len(ev) > 0 {
				c.ErrorScale[i] = max(c.ErrorScale[i], quantile(ev, p.Quantile), p.errFloor)
			}
		}
	}
	var err error
	if c.Mean, c.Std, err = d.stats(C); err != nil {
		return err
	}
	var ends []int
	for e := max(T-1, C-p.Smooth+1); e < C; e++ {
		ends = append(ends, e)
	}
	errs, err := d.errorsOver(ends, c.Mean, c.Std)
	if err != nil {
		return err
	}
	if err := d.SetCalibration(c); err != nil {
		return err
	}
	d.seen = C
	for _, e := range errs {
		d.push(e)
	}
	return nil
}

// push adds one window's errors to the smoothing ring.
func (d *Detector) push(e []float64) {
	if d.ring == nil {
		d.ring = make([][]float64, d.p.Smooth)
		for k := range d.ring {
			d.ring[k] = make([]float64, d.m.S)
		}
	}
	copy(d.ring[d.next], e)
	d.next = (d.next + 1) % d.p.Smooth
	d.filled = min(d.filled+1, d.p.Smooth)
}

// score runs w recalibrated and scores it.
func (d *Detector) score(dst *Result, w *prep.Window) (time.Duration, error) {
	S, T, p, c := d.m.S, d.m.T, d.p, d.cal
	if d.win.Values == nil {
		d.win = prep.Window{Steps: T, Values: make([]float32, S*T), Mask: make([]float32, S*T)}
	}
	d.win.Start, d.win.Missing, d.win.Stale, d.win.Coverage = w.Start, w.Missing, w.Stale, w.Coverage
	copy(d.win.Mask, w.Mask)
	levels := make([]float64, S) // NaN: no cell of the sensor present
	for i := range S {
		sum, n := 0.0, 0
		for t := range T {
			k := i*T + t
			if w.Mask[k] == 0 {
				d.win.Values[k] = 0
				continue
			}
			raw := d.raw(i, w.Values[k])
			d.win.Values[k] = float32(d.a[i]*raw + d.b[i])
			sum += float64(float32((raw - c.Mean[i]) / c.Std[i]))
			n++
		}
		// The mean of the cells present: a sensor with a gap is not
		// pulled towards its calibration mean by the filled cells.
		levels[i] = math.NaN()
		if n > 0 {
			levels[i] = math.Abs(sum / float64(n))
		}
	}
	took, err := d.m.RunInto(dst, &d.win)
	if err != nil {
		return 0, err
	}
	d.seen++
	d.push(d.errorsOf(dst))
	ds := &DetectorScore{Rows: d.seen, CalibRows: p.calibRows, Score: math.Inf(-1)}
	for i, id := range d.m.manifest.Input.Sensors {
		sc := &dst.Sensors[p.headIdx[i]]
		if sc.Masked {
			continue
		}
		ds.Scored++
		// The smoothing averages the windows that scored the sensor (a
		// window without its data holds NaN).
		sum, n := 0.0, 0
		for k := range d.filled {
			if e := d.ring[k][i]; !math.IsNaN(e) {
				sum += e
				n++
			}
		}
		// A term with a threshold <= 0 is switched off (as in models/skab).
		et, lt := math.Inf(-1), math.Inf(-1)
		if p.ErrorK > 0 && n > 0 {
			et = sum / float64(n) / (c.ErrorScale[i] * p.ErrorK)
		}
		if p.LevelK > 0 && !math.IsNaN(levels[i]) {
			lt = levels[i] / (c.LevelScale[i] * p.LevelK)
		}
		sc.Score = max(et, lt, 0)
		sc.Anomalous = sc.Score > 1
		if et > ds.Score {
			ds.Score, ds.Sensor, ds.Level = et, id.ID, false
		}
		if lt > ds.Score {
			ds.Score, ds.Sensor, ds.Level = lt, id.ID, true
		}
	}
	if math.IsInf(ds.Score, -1) {
		ds.Score = 0
	}
	ds.Anomalous = ds.Score > 1
	dst.Detector = ds
	return took, nil
}
