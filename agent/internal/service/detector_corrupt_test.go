package service

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/api"
)

// A calibration file a power cut left empty or cut short must not stop
// the agent from starting (Restart=always would loop): it is moved aside
// and the detector calibrates again.
func TestDetectorCorruptCalibrationRecalibrates(t *testing.T) {
	m := skabModel(t)
	for name, content := range map[string]string{"empty": "", "cut": `{"rows": 3, "me`} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, CalibrationFile)
			require.NoError(t, os.WriteFile(path, []byte(content), 0o640))
			det, _, err := openDetector(m, dir, true, slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			require.NotNil(t, det)
			assert.Equal(t, api.DetectorCalibrating, det.DetectorState().State)
			assert.NoFileExists(t, path)
			aside, err := filepath.Glob(path + ".corrupt-*")
			require.NoError(t, err)
			require.Len(t, aside, 1, "the damaged file is kept aside")
			b, err := os.ReadFile(aside[0])
			require.NoError(t, err)
			assert.Equal(t, content, string(b))
		})
	}
}

// writeFileAtomic leaves the whole file and no temporary file.
func TestWriteFileAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	require.NoError(t, writeFileAtomic(path, map[string]int{"a": 1}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.JSONEq(t, `{"a":1}`, string(b))
	assert.NoFileExists(t, path+".tmp")
}
