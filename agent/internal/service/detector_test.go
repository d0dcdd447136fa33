package service

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDetectorCalibrationPersisted: with the skab-testbed bundle the
// service runs windows through the SKAB detector, which calibrates on the
// first rows, saves the calibration in the data folder and, after a
// restart, scores from the first window without calibrating again.
func TestDetectorCalibrationPersisted(t *testing.T) {
	needORT(t)
	cfg, err := rig.Load("../../../firmware-configs/skab-testbed.yaml")
	require.NoError(t, err)
	m, err := infer.Open("../../../models/bundles/skab-testbed", cfg, infer.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	dir := t.TempDir()
	spec := m.Spec()
	window := func(end int) *prep.Window {
		grid := make([][]float64, len(spec.Sensors))
		for i, s := range spec.Sensors {
			grid[i] = make([]float64, spec.Steps)
			for t := range grid[i] {
				grid[i][t] = s.Mean + s.Std*math.Sin(float64((end-spec.Steps+1+t)*(i+2)))
			}
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(t, err)
		return w
	}
	log := slog.New(slog.DiscardHandler)
	det, err := openDetector(m, dir, true, log)
	require.NoError(t, err)
	require.NotNil(t, det)
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

	det, err = openDetector(m, dir, true, log)
	require.NoError(t, err)
	_, err = det.Run(&r, window(500))
	require.NoError(t, err)
	assert.False(t, r.Detector.Calibrating, "restarted with the stored calibration")

	// A bundle without a SKAB detector gets none.
	zcfg, err := rig.Load("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	zm, err := infer.Open("../../../models/bundles/zema-testrig", zcfg, infer.Options{Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { _ = zm.Close() })
	zdet, err := openDetector(zm, dir, true, log)
	require.NoError(t, err)
	assert.Nil(t, zdet)

	// Windows of another stride get none.
	sdet, err := openDetector(m, dir, false, log)
	require.NoError(t, err)
	assert.Nil(t, sdet)

	// A corrupt file is an error naming it.
	require.NoError(t, os.WriteFile(filepath.Join(dir, CalibrationFile), []byte("{"), 0o640))
	_, err = openDetector(m, dir, true, log)
	require.ErrorContains(t, err, CalibrationFile)
}
