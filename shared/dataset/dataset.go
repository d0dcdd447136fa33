// Package dataset holds the readers and writers of the real data-set
// layouts, so that real and simulated data feed training the same way:
//
//   - dataset/uci: the UCI hydraulic layout (one tab-separated matrix per
//     sensor, one line per cycle; profile.txt with the targets).
//   - dataset/skab: SKAB CSV files (semicolon-separated, datetime first,
//     sensor columns, anomaly and changepoint labels).
//
// This package itself finds the data folder and parses the values of
// both layouts (ParseValue), so that they accept the same numbers.
package dataset

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir names the environment variable that overrides Dir.
const EnvDir = "HYDROGNN_DATA"

// ErrNoData is returned (wrapped) by Dir when no data folder is found.
var ErrNoData = errors.New("no data folder")

// Dir returns the folder holding the real data sets (uci-hydraulic-1hz/,
// skab/): $HYDROGNN_DATA if set, else "../shared/data" beside the
// repository root, found by walking up from the working directory to the
// folder that holds go.work. Tests call it and skip when it fails.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return "", fmt.Errorf("%s=%s is not a folder: %w", EnvDir, d, ErrNoData)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoData, err)
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			data := filepath.Join(filepath.Dir(d), "shared", "data")
			if fi, err := os.Stat(data); err == nil && fi.IsDir() {
				return data, nil
			}
			return "", fmt.Errorf("%w: %s does not exist (set %s)", ErrNoData, data, EnvDir)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("%w: no go.work above %s (set %s)", ErrNoData, wd, EnvDir)
		}
		d = parent
	}
}
