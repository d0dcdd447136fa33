package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// CalibrationFile is the file in agent.data_dir that keeps the
// calibration of a SKAB bundle's detector (infer.Calibration, JSON), so a
// restart does not calibrate again. Delete it (agent stopped) to
// recalibrate, e.g. after the rig moved to a new operating point; a
// calibration made with another bundle is ignored and the rig calibrates
// again.
const CalibrationFile = "detector-calibration.json"

// openDetector returns the windowing detector of m's bundle when it
// carries a SKAB detector (nil otherwise, or when the bundle cannot run it:
// infer.Open has warned), with its calibration read from and saved to
// dir/CalibrationFile. The detector needs every window, one row apart:
// with stride1 false (windowing.alignment or windowing.stride_steps
// configured otherwise) it is not run, with a warning.
func openDetector(m *infer.Model, dir string, stride1 bool, log *slog.Logger) (windowing.Detector, error) {
	d, err := m.NewDetector(nil)
	if errors.Is(err, infer.ErrNoDetector) {
		return nil, nil
	}
	if err != nil {
		log.Warn("bundle's SKAB detector not run", "err", err)
		return nil, nil
	}
	if !stride1 {
		log.Warn("bundle's SKAB detector not run: it needs sliding windows of stride 1 (windowing.alignment, windowing.stride_steps)")
		return nil, nil
	}
	p := &persistedDetector{d: d, path: filepath.Join(dir, CalibrationFile), log: log}
	b, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("detector calibrating on the first rows", "rows", d.CalibRows(), "file", p.path)
	case err != nil:
		return nil, fmt.Errorf("detector calibration: %w", err)
	default:
		var c infer.Calibration
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("detector calibration %s: %w (delete it to recalibrate)", p.path, err)
		}
		if err := d.SetCalibration(&c); err != nil {
			log.Warn("stored detector calibration not used: calibrating again", "file", p.path, "err", err)
		} else {
			p.saved = true
			log.Info("detector calibration loaded", "file", p.path, "rows", c.Rows)
		}
	}
	return p, nil
}

// persistedDetector saves the detector's calibration once it is made.
type persistedDetector struct {
	d     *infer.Detector
	path  string
	saved bool
	log   *slog.Logger
}

// Run runs w through the detector and saves a calibration just made.
func (p *persistedDetector) Run(dst *infer.Result, w *prep.Window) (time.Duration, error) {
	took, err := p.d.Run(dst, w)
	if err != nil || p.saved {
		return took, err
	}
	if c := p.d.Calibration(); c != nil {
		p.saved = true // one attempt: a failed write is logged, the calibration stays in use
		if err := writeFileAtomic(p.path, c); err != nil {
			p.log.Error("detector calibration not saved: the rig calibrates again after a restart", "file", p.path, "err", err)
		} else {
			p.log.Info("detector calibrated", "file", p.path, "rows", c.Rows)
		}
	}
	return took, nil
}

// writeFileAtomic writes v as JSON to path through a temporary file.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
