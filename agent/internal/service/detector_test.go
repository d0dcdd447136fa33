package service

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// skabModel skips the test without ONNX Runtime and opens the shipped
// skab-testbed bundle for its firmware config, closed at the end of the
// test.
func skabModel(t *testing.T) *infer.Model {
	t.Helper()
	needORT(t)
	cfg, err := rig.Load("../../../firmware-configs/skab-testbed.yaml")
	require.NoError(t, err)
	m, err := infer.Open("../../../models/bundles/skab-testbed", cfg, infer.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// sineWindow returns the window of spec ending at row end of a test
// signal: sensor i at row r is its mean plus its standard deviation times
// level + sin(r*(i+2)), so level shifts every sensor by level standard
// deviations.
func sineWindow(t *testing.T, spec prep.Spec, end int, level float64) *prep.Window {
	t.Helper()
	grid := make([][]float64, len(spec.Sensors))
	for i, s := range spec.Sensors {
		grid[i] = make([]float64, spec.Steps)
		for r := range grid[i] {
			grid[i][r] = s.Mean + s.Std*(level+math.Sin(float64((end-spec.Steps+1+r)*(i+2))))
		}
	}
	w, err := prep.FromGrid(spec, grid)
	require.NoError(t, err)
	return w
}

// TestDetectorCalibrationPersisted: with the skab-testbed bundle the
// service runs windows through the SKAB detector, which calibrates on the
// first rows, saves the calibration in the data folder and, after a
// restart, scores from the first window without calibrating again.
func TestDetectorCalibrationPersisted(t *testing.T) {
	m := skabModel(t)
	dir := t.TempDir()
	spec := m.Spec()
	window := func(end int) *prep.Window { return sineWindow(t, spec, end, 0) }
	log := slog.New(slog.DiscardHandler)
	det, _, err := openDetector(m, dir, true, log)
	require.NoError(t, err)
	require.NotNil(t, det)
	assert.Equal(t, api.DetectorCalibrating, det.DetectorState().State)
	var r infer.Result
	var calibrating int
	for e := spec.Steps - 1; e < 450; e++ {
		_, err := det.Run(&r, window(e))
		require.NoError(t, err)
		if r.Detector.Calibrating {
			calibrating++
		}
	}
	assert.Equal(t, 400-spec.Steps, calibrating)
	require.FileExists(t, filepath.Join(dir, CalibrationFile))
	st := det.DetectorState()
	assert.Equal(t, api.DetectorCalibrated, st.State)
	assert.True(t, st.Saved)
	assert.NotNil(t, st.CalibratedAt)

	det, _, err = openDetector(m, dir, true, log)
	require.NoError(t, err)
	assert.Equal(t, api.DetectorCalibrated, det.DetectorState().State, "loaded from the file")
	_, err = det.Run(&r, window(500))
	require.NoError(t, err)
	assert.False(t, r.Detector.Calibrating, "restarted with the stored calibration")

	// A bundle without a SKAB detector gets none.
	zcfg, err := rig.Load("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	zm, err := infer.Open("../../../models/bundles/zema-testrig", zcfg, infer.Options{Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = zm.Close() })
	zdet, why, err := openDetector(zm, dir, true, log)
	require.NoError(t, err)
	assert.Nil(t, zdet)
	assert.Contains(t, why, "no SKAB anomaly detector")

	// Windows of another stride get none.
	sdet, why, err := openDetector(m, dir, false, log)
	require.NoError(t, err)
	assert.Nil(t, sdet)
	assert.Contains(t, why, "stride 1")

	// A corrupt file is moved aside and the detector calibrates again
	// (TestDetectorCorruptCalibrationRecalibrates).
	require.NoError(t, os.WriteFile(filepath.Join(dir, CalibrationFile), []byte("{"), 0o640))
	det, _, err = openDetector(m, dir, true, log)
	require.NoError(t, err)
	assert.Equal(t, api.DetectorCalibrating, det.DetectorState().State)
}

// TestDetectorRecalibrate: POST /detector/recalibrate's work. A calibrated
// detector recalibrates from the next windows: its file is removed at
// once (a restart meanwhile calibrates too), the next 400 rows calibrate
// again (diagnosed as calibrating), and the new calibration, made from the
// new rows, is saved. After a restart it is the one in use.
func TestDetectorRecalibrate(t *testing.T) {
	m := skabModel(t)
	dir := t.TempDir()
	spec := m.Spec()
	window := func(end int, level float64) *prep.Window { return sineWindow(t, spec, end, level) }
	log := slog.New(slog.DiscardHandler)
	det, _, err := openDetector(m, dir, true, log)
	require.NoError(t, err)
	var r infer.Result
	e := spec.Steps - 1
	for ; e < 420; e++ {
		_, err := det.Run(&r, window(e, 0))
		require.NoError(t, err)
	}
	require.False(t, r.Detector.Calibrating)
	file := filepath.Join(dir, CalibrationFile)
	first, err := os.ReadFile(file)
	require.NoError(t, err)

	st, err := det.Recalibrate(context.Background())
	require.NoError(t, err)
	assert.Equal(t, api.DetectorCalibrating, st.State)
	assert.Equal(t, 0, st.Rows)
	assert.Equal(t, 400, st.CalibRows)
	assert.InDelta(t, 400*spec.CellStart(1).Seconds(), st.RemainingS, 1e-9)
	assert.NotNil(t, st.RecalibrationRequestedAt)
	assert.Nil(t, st.CalibratedAt)
	assert.NoFileExists(t, file, "removed: a restart now calibrates too")

	// The new operating point: two standard deviations up.
	calibrating := 0
	for n := 0; n < 420-spec.Steps+1; n, e = n+1, e+1 {
		_, err := det.Run(&r, window(e, 2))
		require.NoError(t, err)
		if r.Detector.Calibrating {
			calibrating++
			dg, err := m.Diagnose(&r, window(e, 2), 0)
			require.NoError(t, err)
			require.True(t, dg.Calibrating)
			if calibrating == 100 {
				st := det.DetectorState()
				assert.Equal(t, api.DetectorCalibrating, st.State)
				assert.Equal(t, r.Detector.Rows, st.Rows)
				assert.Greater(t, st.RemainingS, 0.0)
			}
		}
	}
	assert.Equal(t, 400-spec.Steps, calibrating, "a whole new calibration, from the first window after the request")
	st = det.DetectorState()
	assert.Equal(t, api.DetectorCalibrated, st.State)
	assert.True(t, st.Saved)
	second, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.NotEqual(t, string(first), string(second), "calibrated on the new rows")

	det, _, err = openDetector(m, dir, true, log)
	require.NoError(t, err)
	_, err = det.Run(&r, window(e, 2))
	require.NoError(t, err)
	assert.False(t, r.Detector.Calibrating)
	assert.LessOrEqual(t, r.Detector.Score, 1.0, "the new operating point is normal now")

	// A recalibration that cannot wait for a running window changes nothing.
	det.lock <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = det.Recalibrate(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	<-det.lock
	assert.FileExists(t, file)
	assert.Equal(t, api.DetectorCalibrated, det.DetectorState().State)
}

// TestRecalibrateThroughAPI: the running agent with the skab-testbed
// bundle shows its detector calibrating in /status and /bundle and
// recalibrates on POST /detector/recalibrate (202); with the zema-testrig
// bundle, which has no detector, the route answers 409 with a problem
// document saying so.
func TestRecalibrateThroughAPI(t *testing.T) {
	needORT(t)
	t.Run("skab", func(t *testing.T) {
		dir := t.TempDir()
		agentID := fmt.Sprintf("recal-%d", time.Now().UnixNano()%1_000_000_000)
		fwPath, bundleDir := isolatedRigFrom(t, dir, agentID, "../../../firmware-configs/skab-testbed.yaml", "../../../models/bundles/skab-testbed")
		a := startAgent(t, writeConfigFor(t, dir, agentID, "", "1s", fwPath, bundleDir))
		var st api.StatusBody
		require.Equal(t, 200, getJSON(t, a.APIAddr(), "/status", &st))
		require.NotNil(t, st.Detector)
		assert.Equal(t, api.DetectorCalibrating, st.Detector.State)
		assert.Equal(t, 400, st.Detector.CalibRows)
		assert.InDelta(t, 400, st.Detector.RemainingS, 1e-9, "400 rows at 1 Hz")
		assert.Equal(t, filepath.Join(dir, "data", CalibrationFile), st.Detector.File)
		var b api.BundleBody
		require.Equal(t, 200, getJSON(t, a.APIAddr(), "/bundle", &b))
		require.NotNil(t, b.Detector)

		resp, err := http.Post("http://"+a.APIAddr()+"/detector/recalibrate", "application/json", strings.NewReader("{}"))
		require.NoError(t, err)
		var ds api.DetectorState
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&ds))
		resp.Body.Close()
		require.Equal(t, http.StatusAccepted, resp.StatusCode)
		assert.Equal(t, api.DetectorCalibrating, ds.State)
		assert.NotNil(t, ds.RecalibrationRequestedAt)
	})
	t.Run("zema", func(t *testing.T) {
		dir := t.TempDir()
		agentID := fmt.Sprintf("recal-z-%d", time.Now().UnixNano()%1_000_000_000)
		a := startAgent(t, writeConfig(t, dir, agentID, ""))
		resp, err := http.Post("http://"+a.APIAddr()+"/detector/recalibrate", "application/json", nil)
		require.NoError(t, err)
		var p api.ProblemBody
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&p))
		resp.Body.Close()
		require.Equal(t, http.StatusConflict, resp.StatusCode)
		assert.Equal(t, "application/problem+json", resp.Header.Get("Content-Type"))
		assert.Equal(t, api.ProblemNoDetector, p.Type)
		assert.Contains(t, p.Detail, "the bundle has no SKAB anomaly detector")
		var st api.StatusBody
		require.Equal(t, 200, getJSON(t, a.APIAddr(), "/status", &st))
		assert.Nil(t, st.Detector)
	})
}
