package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/durable"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// CalibrationFile is the file in agent.data_dir that keeps the
// calibration of a SKAB bundle's detector (infer.Calibration, JSON), so a
// restart does not calibrate again. POST /detector/recalibrate (or
// deleting it with the agent stopped) recalibrates, e.g. after the rig
// moved to a new operating point; a calibration made with another bundle
// is ignored and the rig calibrates again.
// It is config.CalibrationFile, which the config checks configured paths
// against.
const CalibrationFile = config.CalibrationFile

// openDetector returns the detector of m's bundle when it carries a SKAB
// detector, with its calibration read from and saved to
// dir/CalibrationFile. Without one (none in the bundle, a bundle that
// cannot run it: infer.Open has warned, or windows that are not stride-1
// sliding: stride1 false, warned here) it returns nil and why, for the
// API. The detector needs every window, one row apart.
func openDetector(m *infer.Model, dir string, stride1 bool, log *slog.Logger) (*persistedDetector, string, error) {
	d, err := m.NewDetector(nil)
	if errors.Is(err, infer.ErrNoDetector) {
		return nil, "the bundle has no SKAB anomaly detector (provenance.config.skab_detector)", nil
	}
	if err != nil {
		log.Warn("bundle's SKAB detector not run", "err", err)
		return nil, fmt.Sprintf("the bundle's SKAB detector cannot run: %v", err), nil
	}
	if !stride1 {
		log.Warn("bundle's SKAB detector not run: it needs sliding windows of stride 1 (windowing.alignment, windowing.stride_steps)")
		return nil, "the SKAB detector is not run: it needs sliding windows of stride 1 (windowing.alignment, windowing.stride_steps)", nil
	}
	p := &persistedDetector{d: d, path: filepath.Join(dir, CalibrationFile), log: log, lock: make(chan struct{}, 1),
		step: m.Spec().CellStart(1), now: time.Now}
	p.st = api.DetectorState{State: api.DetectorCalibrating, CalibRows: d.CalibRows(), File: p.path}
	b, err := os.ReadFile(p.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		log.Info("detector calibrating on the first rows", "rows", d.CalibRows(), "file", p.path)
	case err != nil:
		return nil, "", fmt.Errorf("detector calibration: %w", err)
	default:
		var c infer.Calibration
		if err := json.Unmarshal(b, &c); err != nil {
			// Derived data (a power cut can leave it empty or cut): keep it
			// for a look, and calibrate again, which loses nothing.
			aside := fmt.Sprintf("%s.corrupt-%s", p.path, time.Now().UTC().Format("20060102T150405Z"))
			if rerr := os.Rename(p.path, aside); rerr != nil {
				return nil, "", fmt.Errorf("detector calibration %s unreadable (%w) and cannot be moved aside: %w (delete it to recalibrate)", p.path, err, rerr)
			}
			if serr := syncDir(dir); serr != nil {
				// The move happened; after a power cut now the damaged
				// file may be back, and is moved aside again.
				log.Warn("detector calibration moved aside, but its folder could not be synced", "dir", dir, "err", serr)
			}
			log.Warn("detector calibration unreadable: moved aside, calibrating again on the first rows (it is derived from the readings, so nothing is lost)",
				"file", p.path, "moved_to", aside, "err", err, "rows", d.CalibRows())
			break
		}
		if err := d.SetCalibration(&c); err != nil {
			log.Warn("stored detector calibration not used: calibrating again", "file", p.path, "err", err)
		} else {
			p.saved = true
			p.st.State, p.st.Saved = api.DetectorCalibrated, true
			if fi, err := os.Stat(p.path); err == nil {
				t := fi.ModTime().UTC()
				p.st.CalibratedAt = &t
			}
			log.Info("detector calibration loaded", "file", p.path, "rows", c.Rows)
		}
	}
	return p, "", nil
}

// persistedDetector runs the windows through the detector, saves its
// calibration once made, and lets the API recalibrate it. Run is called
// by the windowing goroutine; DetectorState and Recalibrate by the API,
// concurrently.
type persistedDetector struct {
	d    *infer.Detector
	path string
	log  *slog.Logger
	step time.Duration // one grid row
	now  func() time.Time

	lock  chan struct{} // held (1 token) by Run and Recalibrate
	saved bool          // under lock

	mu sync.Mutex
	st api.DetectorState // under mu
}

var _ api.Detector = (*persistedDetector)(nil)

// Run runs w through the detector and saves a calibration just made.
func (p *persistedDetector) Run(dst *infer.Result, w *prep.Window) (time.Duration, error) {
	p.lock <- struct{}{}
	defer func() { <-p.lock }()
	took, err := p.d.Run(dst, w)
	if err != nil {
		return took, err
	}
	if ds := dst.Detector; ds != nil && ds.Calibrating {
		p.mu.Lock()
		p.st.State, p.st.Rows, p.st.CalibRows = api.DetectorCalibrating, ds.Rows, ds.CalibRows
		p.st.RemainingS = float64(ds.CalibRows-ds.Rows) * p.step.Seconds()
		p.mu.Unlock()
	}
	if p.saved {
		return took, nil
	}
	if c := p.d.Calibration(); c != nil {
		p.saved = true // one attempt: a failed write is logged, the calibration stays in use
		err := writeFileAtomic(p.path, c)
		if err != nil {
			p.log.Error("detector calibration not saved: the rig calibrates again after a restart", "file", p.path, "err", err)
		} else {
			p.log.Info("detector calibrated", "file", p.path, "rows", c.Rows)
		}
		t := p.now().UTC()
		p.mu.Lock()
		p.st.State, p.st.Rows, p.st.RemainingS, p.st.CalibratedAt, p.st.Saved = api.DetectorCalibrated, 0, 0, &t, err == nil
		p.mu.Unlock()
	}
	return took, nil
}

// DetectorState implements api.Detector.
func (p *persistedDetector) DetectorState() api.DetectorState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	if st.State == api.DetectorCalibrating && st.Rows == 0 {
		st.RemainingS = float64(st.CalibRows) * p.step.Seconds()
	}
	return st
}

// Recalibrate implements api.Detector: it removes the calibration file
// (so a restart meanwhile calibrates too) and drops the calibration; the
// next windows calibrate, and the new calibration is saved when complete.
// It waits, bounded by ctx, for a window being run (the last calibration
// window runs the model about 2 x CalibRows times). If the file cannot be
// removed nothing changes; the removal is synced to the folder (a power
// cut then cannot bring the old calibration back).
func (p *persistedDetector) Recalibrate(ctx context.Context) (api.DetectorState, error) {
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return p.DetectorState(), fmt.Errorf("detector busy running a window: %w", ctx.Err())
	}
	defer func() { <-p.lock }()
	if err := os.Remove(p.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return p.DetectorState(), fmt.Errorf("remove detector calibration: %w", err)
	}
	if err := syncDir(filepath.Dir(p.path)); err != nil {
		// The file is gone for this run; after a power cut it may be
		// back, and a restart would use the old calibration.
		p.log.Warn("detector calibration removed, but its folder could not be synced: a power cut may bring it back", "file", p.path, "err", err)
	}
	p.d.Recalibrate()
	p.saved = false
	t := p.now().UTC()
	p.mu.Lock()
	p.st.State, p.st.Rows, p.st.CalibratedAt, p.st.Saved = api.DetectorCalibrating, 0, nil, false
	p.st.RemainingS = float64(p.st.CalibRows) * p.step.Seconds()
	p.st.RecalibrationRequestedAt = &t
	st := p.st
	p.mu.Unlock()
	p.log.Info("detector recalibrating from the next windows", "rows", st.CalibRows, "file", p.path)
	return st, nil
}

// writeFileAtomic writes v as JSON to path through a temporary file
// (config.TempFile, which the config keeps configured paths off),
// synced before the rename, and syncs the folder after it: after a power
// cut path is either the old file or the whole new one.
func writeFileAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := config.TempFile(path)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	err = durable.SyncClose(f, err)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename or removal in dir durable (a variable for
// tests).
var syncDir = durable.SyncDir
