package service

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// recordSyncs replaces syncDir for the test: it records each folder
// synced and whether the calibration file was still there at that time.
func recordSyncs(t *testing.T, file string) *[]string {
	t.Helper()
	var synced []string
	old := syncDir
	syncDir = func(dir string) error {
		_, err := os.Stat(file)
		synced = append(synced, dir+" file_exists="+map[bool]string{true: "yes", false: "no"}[err == nil])
		return old(dir)
	}
	t.Cleanup(func() { syncDir = old })
	return &synced
}

// Recalibrate's removal of the calibration file and openDetector's move
// of a damaged one aside are synced to the folder after they happened: a
// power cut must not bring the old file back (it was not synced at all).
func TestDetectorCalibrationRemovalIsSynced(t *testing.T) {
	needORT(t)
	cfg, err := rig.Load("../../../firmware-configs/skab-testbed.yaml")
	require.NoError(t, err)
	m, err := infer.Open("../../../models/bundles/skab-testbed", cfg, infer.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	log := slog.New(slog.DiscardHandler)

	t.Run("recalibrate", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, CalibrationFile)
		det, _, err := openDetector(m, dir, true, log)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(file, []byte(`{}`), 0o640)) // a file to remove
		synced := recordSyncs(t, file)
		_, err = det.Recalibrate(context.Background())
		require.NoError(t, err)
		assert.Equal(t, []string{dir + " file_exists=no"}, *synced)
	})
	t.Run("moved aside", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, CalibrationFile)
		require.NoError(t, os.WriteFile(file, nil, 0o640))
		synced := recordSyncs(t, file)
		_, _, err := openDetector(m, dir, true, log)
		require.NoError(t, err)
		assert.Equal(t, []string{dir + " file_exists=no"}, *synced)
	})
}
