package infer

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/skab"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/dataset"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// skabBundle trains a small SKAB model on set (one epoch: parity needs
// the same weights on both sides, not a good model), fits its detector
// and exports it as a bundle the way models/pipeline does.
func skabBundle(tb testing.TB, cfg *rig.Config, set *skab.Set) (*skab.Model, string) {
	tb.Helper()
	m, err := skab.Train(context.Background(), cfg, set, skab.Options{Epochs: 1, TrainStride: 4, Seed: 1,
		Sizes: gnn.Sizes{Hidden: 8, HeadHidden: 8, Window: 4, Readout: 4}}, nil)
	require.NoError(tb, err)
	require.NoError(tb, m.FitDetector(set, skab.DetectorOptions{}))
	res, hyper, err := pipeline.SKABExport(m)
	require.NoError(tb, err)
	dir := tb.TempDir()
	_, err = export.WriteBundle(dir, cfg, res, export.BundleOptions{AnomalyOnly: true, NoInt8: true,
		Provenance: bundle.Provenance{Config: hyper}})
	require.NoError(tb, err)
	return m, dir
}

// edgeScores feeds s row by row (stride-1 windows prepared with the
// bundle's input spec, as the agent's windowing makes them) through a
// Detector and returns each row's score (rows before CalibRows: NaN).
func edgeScores(tb testing.TB, m *Model, d *Detector, s *skab.Series, start time.Time) []float64 {
	tb.Helper()
	spec, T := m.Spec(), m.T
	out := make([]float64, s.Rows())
	for r := range out {
		out[r] = math.NaN()
	}
	var res Result
	grid := make([][]float64, len(s.Values))
	for e := T - 1; e < s.Rows(); e++ {
		for i := range grid {
			grid[i] = s.Values[i][e-T+1 : e+1]
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(tb, err)
		if !start.IsZero() {
			w.Start = start.Add(time.Duration(e-T+1) * time.Second)
		}
		_, err = d.Run(&res, w)
		require.NoError(tb, err)
		require.NotNil(tb, res.Detector)
		if !res.Detector.Calibrating {
			out[e] = res.Detector.Score
		}
	}
	return out
}

// skabData skips the test without ONNX Runtime or the SKAB data set
// (shared/dataset), and returns the skab-testbed firmware config and every
// SKAB experiment file loaded for it.
func skabData(t *testing.T) (*rig.Config, *skab.Set) {
	t.Helper()
	needORT(t)
	root, err := dataset.Dir()
	if err != nil {
		t.Skipf("SKAB data not found (%v): put SKAB under ../shared/data/skab/data or set %s", err, dataset.EnvDir)
	}
	dir := filepath.Join(root, "skab", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("SKAB data not found: %v", err)
	}
	cfg := loadRig(t, "../../firmware-configs/skab-testbed.yaml")
	set, err := skab.LoadDir(dir, cfg)
	require.NoError(t, err)
	return cfg, set
}

// TestSKABDetectorParity: on SKAB experiment files, the agent's Detector
// (ONNX Runtime, windows prepared with the bundle's spec, calibration on
// the first CalibRows rows it sees) gives every scored row the score of
// models/skab's Model.Score (the benchmarked detector) on the same model,
// and the same decision wherever the score is not within rounding of 1.
func TestSKABDetectorParity(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small SKAB model")
	}
	cfg, set := skabData(t)
	sm, bdir := skabBundle(t, cfg, set)
	m, err := Open(bdir, cfg, Options{Logger: quiet, Precision: bundle.FP32})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })

	files := set.Experiments
	want, err := sm.Score(files)
	require.NoError(t, err)
	C := sm.Options.CalibRows
	for k, s := range files {
		d, err := m.NewDetector(nil)
		require.NoError(t, err)
		got := edgeScores(t, m, d, s, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var maxDiff float64
		flips, anomalous := 0, 0
		for r := C; r < s.Rows(); r++ {
			w, g := want[k].Value[r], got[r]
			require.False(t, math.IsNaN(g), "%s row %d not scored", s.Name, r)
			diff := math.Abs(w-g) / max(1, math.Abs(w))
			maxDiff = max(maxDiff, diff)
			if (w > 1) != (g > 1) && math.Abs(w-1) > 1e-3 {
				flips++
			}
			if g > 1 {
				anomalous++
			}
		}
		t.Logf("%s: %d scored rows, %d anomalous, max relative score difference %.2g, decision flips %d",
			filepath.Base(filepath.Dir(s.Name))+"/"+filepath.Base(s.Name), s.Rows()-C, anomalous, maxDiff, flips)
		assert.Less(t, maxDiff, 1e-3, s.Name)
		assert.Zero(t, flips, s.Name)

		// A persisted calibration scores the same without recalibrating.
		b, err := json.Marshal(d.Calibration())
		require.NoError(t, err)
		var cal Calibration
		require.NoError(t, json.Unmarshal(b, &cal))
		d2, err := m.NewDetector(&cal)
		require.NoError(t, err)
		var res Result
		w, err := prep.FromGrid(m.Spec(), lastWindow(s, m.T))
		require.NoError(t, err)
		_, err = d2.Run(&res, w)
		require.NoError(t, err)
		require.False(t, res.Detector.Calibrating)
		// Its smoothing starts afresh: only the level term must agree.
		if want[k].Level[s.Rows()-1] {
			assert.InDelta(t, want[k].Value[s.Rows()-1], res.Detector.Score, 1e-3*max(1, want[k].Value[s.Rows()-1]))
		}
	}
}

// TestSKABShippedBundleOnSKAB runs the shipped skab-testbed bundle (its
// default, int8 model) through the Detector over every SKAB experiment
// file, as an agent installed on each run would, and counts the
// protocol's rows (from CalibRows on): the edge path's F1, FAR and MAR.
func TestSKABShippedBundleOnSKAB(t *testing.T) {
	if testing.Short() {
		t.Skip("scores every SKAB file")
	}
	cfg, set := skabData(t)
	m, err := Open("../../models/bundles/skab-testbed", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	var c skab.Confusion
	for _, s := range set.Experiments {
		d, err := m.NewDetector(nil)
		require.NoError(t, err)
		got := edgeScores(t, m, d, s, time.Time{})
		for r := d.CalibRows(); r < s.Rows(); r++ {
			c.Add(s.Anomaly[r], got[r] > 1)
		}
	}
	t.Logf("shipped bundle (%s) through the Detector: %d files, %d rows: F1 %.3f, FAR %.1f %%, MAR %.1f %%",
		m.Info().File, len(set.Experiments), c.Rows(), c.F1(), 100*c.FAR(), 100*c.MAR())
	assert.Greater(t, c.F1(), 0.7)
	assert.Less(t, c.FAR(), 0.3)
}

func lastWindow(s *skab.Series, T int) [][]float64 {
	grid := make([][]float64, len(s.Values))
	for i := range grid {
		grid[i] = s.Values[i][s.Rows()-T:]
	}
	return grid
}

// synthSeries is a SKAB-like series for cfg: each sensor steady around
// its operating point with noise, and from row shiftAt on sensor 7 (the
// flow) shifted down by shift.
func synthSeries(cfg *rig.Config, rows, shiftAt int, shift float64) *skab.Series {
	s := &skab.Series{Name: "synthetic"}
	for i, sn := range cfg.Sensors {
		s.Sensors = append(s.Sensors, sn.ID)
		base := (sn.Range.Min + sn.Range.Max) / 4
		row := make([]float64, rows)
		for r := range row {
			row[r] = base + 0.01*(sn.Range.Max-sn.Range.Min)*math.Sin(float64(r*(i+3))*0.7)
			if i == len(cfg.Sensors)-1 && r >= shiftAt {
				row[r] -= shift
			}
		}
		s.Values = append(s.Values, row)
	}
	return s
}

// TestSKABDetectorSynthetic runs without the SKAB data: a small model
// trained on synthetic normal series; the Detector matches Model.Score on
// a series with a late level shift, flags the shift and not the normal
// rows, and Diagnose sets the status from it.
func TestSKABDetectorSynthetic(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small SKAB model")
	}
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/skab-testbed.yaml")
	var set skab.Set
	for k := range 4 {
		s := synthSeries(cfg, 500, 500, 0)
		s.Name = "normal"
		for i := range s.Values {
			for r := range s.Values[i] {
				s.Values[i][r] += 0.001 * float64(k) * math.Cos(float64(r))
			}
		}
		set.Experiments = append(set.Experiments, s)
	}
	sm, bdir := skabBundle(t, cfg, &set)
	m, err := Open(bdir, cfg, Options{Logger: quiet, Precision: bundle.FP32})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	_, err = (&Model{manifest: &bundle.Manifest{}}).NewDetector(nil)
	require.ErrorIs(t, err, ErrNoDetector)

	s := synthSeries(cfg, 600, 520, 20)
	want, err := sm.Score([]*skab.Series{s})
	require.NoError(t, err)
	d, err := m.NewDetector(nil)
	require.NoError(t, err)
	got := edgeScores(t, m, d, s, time.Time{})
	for r := 400; r < s.Rows(); r++ {
		require.InDelta(t, want[0].Value[r], got[r], 1e-3*max(1, want[0].Value[r]), "row %d", r)
	}
	assert.LessOrEqual(t, got[510], 1.0, "normal row")
	assert.Greater(t, got[560], 1.0, "shifted row")

	// Diagnose: statuses from the detector.
	var res Result
	w, err := prep.FromGrid(m.Spec(), lastWindow(s, m.T))
	require.NoError(t, err)
	_, err = d.Run(&res, w)
	require.NoError(t, err)
	dg, err := m.Diagnose(&res, w, 0)
	require.NoError(t, err)
	assert.NotEqual(t, diag.Healthy, dg.Status)
	assert.NotEqual(t, diag.Unknown, dg.Status)
	assert.NotEmpty(t, dg.Anomalies)

	// A window whose every sensor is missing scores no sensor: the rig's
	// status is unknown, not healthy.
	blind := *w
	blind.Mask = make([]float32, len(w.Mask))
	blind.Missing = nil
	for _, sp := range m.Spec().Sensors {
		blind.Missing = append(blind.Missing, sp.ID)
	}
	_, err = d.Run(&res, &blind)
	require.NoError(t, err)
	require.Zero(t, res.Detector.Scored)
	dg, err = m.Diagnose(&res, &blind, 0)
	require.NoError(t, err)
	assert.Equal(t, diag.Unknown, dg.Status, "no sensor scored: not healthy")
	assert.False(t, dg.Calibrating)

	// A calibration for another bundle is refused.
	cal := d.Calibration()
	cal.Bundle = "sha256:other"
	_, err = m.NewDetector(cal)
	require.ErrorContains(t, err, "recalibrate")
	// A recalibrating detector reports calibration, status unknown.
	d.Recalibrate()
	_, err = d.Run(&res, w)
	require.NoError(t, err)
	require.True(t, res.Detector.Calibrating)
	assert.Equal(t, m.T, res.Detector.Rows)
	dg, err = m.Diagnose(&res, w, 0)
	require.NoError(t, err)
	assert.Equal(t, diag.Unknown, dg.Status)
	assert.Empty(t, dg.Anomalies)
	assert.True(t, dg.Calibrating, "unknown because calibrating, not for missing data")
	assert.False(t, cloudapi.IsAlert(dg), "a calibrating diagnosis is no alert")
}

// synthDetector trains a small SKAB model on synthetic normal series
// (as TestSKABDetectorSynthetic) and opens its bundle.
func synthDetector(t *testing.T) (*rig.Config, *Model) {
	t.Helper()
	cfg := loadRig(t, "../../firmware-configs/skab-testbed.yaml")
	var set skab.Set
	for k := range 4 {
		s := synthSeries(cfg, 500, 500, 0)
		for i := range s.Values {
			for r := range s.Values[i] {
				s.Values[i][r] += 0.001 * float64(k) * math.Cos(float64(r))
			}
		}
		set.Experiments = append(set.Experiments, s)
	}
	_, bdir := skabBundle(t, cfg, &set)
	m, err := Open(bdir, cfg, Options{Logger: quiet, Precision: bundle.FP32})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return cfg, m
}

// maskedWindow returns the window of rows e-T+1..e of s prepared with
// m's spec, with the cells for which gone(sensor, row) holds missing
// (mask 0, value 0, the sensor listed in Missing or Stale), as prep
// leaves a cell without data.
func maskedWindow(t *testing.T, m *Model, s *skab.Series, e int, gone func(i, r int) bool) *prep.Window {
	t.Helper()
	T := m.T
	grid := make([][]float64, len(s.Values))
	for i := range grid {
		grid[i] = s.Values[i][e-T+1 : e+1]
	}
	w, err := prep.FromGrid(m.Spec(), grid)
	require.NoError(t, err)
	for i, sp := range m.Spec().Sensors {
		n := 0
		for k := range T {
			if gone(i, e-T+1+k) {
				w.Values[i*T+k], w.Mask[i*T+k] = 0, 0
				n++
			}
		}
		switch {
		case n == T:
			w.Missing = append(w.Missing, sp.ID)
		case n > 0:
			w.Stale = append(w.Stale, sp.ID)
		}
	}
	return w
}

// TestSKABDetectorMissingCells: missing cells (mask 0, filled by prep
// with the default calibration's mean) are no readings for the Detector.
// Its calibration's mean and std are those of the present cells; a
// sensor without any cell in the calibration rows keeps the bundle's
// default calibration; a window's level term is the mean of the present
// cells, not their sum over T.
func TestSKABDetectorMissingCells(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a small SKAB model")
	}
	needORT(t)
	cfg, m := synthDetector(t)
	const gappy, absent = 0, 1 // sensor 0 misses every third row, sensor 1 every calibration row
	s := synthSeries(cfg, 460, 460, 0)
	span := cfg.Sensors[gappy].Range.Max - cfg.Sensors[gappy].Range.Min
	for r := range s.Values[gappy] {
		s.Values[gappy][r] += 0.05 * span // away from the default calibration's mean
	}
	d, err := m.NewDetector(nil)
	require.NoError(t, err)
	C, T := d.CalibRows(), m.T
	gone := func(i, r int) bool { return (i == gappy && r%3 == 0) || (i == absent && r < C) }
	var res Result
	for e := T - 1; e < C; e++ {
		_, err := d.Run(&res, maskedWindow(t, m, s, e, gone))
		require.NoError(t, err)
	}
	require.False(t, res.Detector.Calibrating)
	cal := d.Calibration()

	var present []float64
	for r := range C {
		if !gone(gappy, r) {
			present = append(present, s.Values[gappy][r])
		}
	}
	mean, sq := 0.0, 0.0
	for _, v := range present {
		mean += v / float64(len(present))
	}
	for _, v := range present {
		sq += (v - mean) * (v - mean) / float64(len(present))
	}
	assert.InDelta(t, mean, cal.Mean[gappy], 1e-6*span, "mean of the present cells")
	assert.InDelta(t, math.Sqrt(sq), cal.Std[gappy], 1e-6*span, "std of the present cells")

	// The absent sensor keeps the default calibration, of which the
	// bundle's input spec is the composition with the model's own
	// normalisation.
	sp := m.Spec().Sensors[absent]
	assert.InDelta(t, sp.Std, cal.Std[absent]*d.p.normStd[absent], 1e-9*sp.Std)
	assert.InDelta(t, sp.Mean, cal.Mean[absent]+cal.Std[absent]*d.p.normMean[absent], 1e-9*max(1, math.Abs(sp.Mean)))

	// Level term alone (the error term switched off): sensor 0 present
	// in the window's second half only, 3 calibration std above its mean.
	d.p.ErrorK = 0
	row := make([]float64, s.Rows())
	copy(row, s.Values[gappy])
	for r := range row {
		row[r] = cal.Mean[gappy] + 3*cal.Std[gappy]
	}
	s.Values[gappy] = row
	e := C + 5
	w := maskedWindow(t, m, s, e, func(i, r int) bool { return i == gappy && r <= e-T/2 })
	_, err = d.Run(&res, w)
	require.NoError(t, err)
	sc := res.Sensors[d.p.headIdx[gappy]]
	require.False(t, sc.Masked)
	assert.InDelta(t, 3/(cal.LevelScale[gappy]*d.p.LevelK), sc.Score, 1e-3, "the level of the present cells")

	// Error term alone: a window without the sensor adds nothing to its
	// smoothing (the same window again and again keeps its score).
	d.p.ErrorK, d.p.LevelK = 3, 0
	w = maskedWindow(t, m, s, e, func(int, int) bool { return false })
	for range d.p.Smooth {
		_, err = d.Run(&res, w)
		require.NoError(t, err)
	}
	want := res.Sensors[d.p.headIdx[gappy]].Score
	require.Positive(t, want)
	_, err = d.Run(&res, maskedWindow(t, m, s, e, func(i, _ int) bool { return i == gappy }))
	require.NoError(t, err)
	require.True(t, res.Sensors[d.p.headIdx[gappy]].Masked)
	_, err = d.Run(&res, w)
	require.NoError(t, err)
	assert.InDelta(t, want, res.Sensors[d.p.headIdx[gappy]].Score, 1e-9*want, "smoothing of the windows that scored the sensor")
}
