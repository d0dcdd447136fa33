package infer

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// Output is the result of one Run: one Result per window, in input order.
type Output struct {
	Results []Result
	// Elapsed is the wall time of the ONNX Runtime call(s) for the whole
	// batch: copying the windows in and decoding the outputs are not
	// included.
	Elapsed time.Duration
}

// Result holds the model's outputs for one window, mapped by the bundle
// manifest's heads. Fields of heads the model does not have are nil.
type Result struct {
	// Health is each component's health in [0, 1], in the manifest's
	// component order (the firmware config's).
	Health []float64
	// Targets are the class probabilities of each class head, in
	// manifest head order; Predicted is the most probable class.
	Targets []diag.TargetResult
	// Sensors are the anomaly head's per-sensor scores: the model's error
	// divided by the sensor's calibrated threshold, so 1 is the threshold
	// and Anomalous is Score >= 1. A sensor in the window's Missing list
	// is Masked with Score 0: its input was all zero-filled, so its error
	// means nothing.
	Sensors []diag.SensorScore
	// RUL is the remaining useful life in hours (quantiles 0.1, 0.5, 0.9)
	// when the model has a RUL head; Component is the head's one label,
	// if it has one.
	RUL *diag.RUL
	// Detector is the SKAB detector's verdict when the window was run by
	// a Detector (nil otherwise); Sensors then hold its per-sensor
	// scores, not the raw error over the head's threshold.
	Detector *DetectorScore
	// RunCPU is the CPU time the calling thread spent in the ONNX Runtime
	// call that produced this Result (RunInto with Options.RunCPU only;
	// 0 otherwise, from Run, and where the thread CPU clock cannot be
	// read). Next to the wall time
	// RunInto returns it tells work from waiting: on a busy machine the
	// wall time also counts the time the thread waited for a core.
	RunCPU time.Duration
}

// Run feeds windows (each prepared with the bundle's input spec, e.g. by a
// prep.Resampler from Model.Spec) through the model as one batch and
// returns a new Output the caller owns. It fails with ErrInput when a
// window's shape differs from the spec, its values are not finite, or
// there are more than Options.MaxBatch windows; with ErrClosed after
// Close. A model output that is not finite is an error too, never a
// silently wrong diagnosis.
//
// The windows are only read during the call.
func (m *Model) Run(windows []*prep.Window) (*Output, error) {
	if len(windows) == 0 {
		return nil, fmt.Errorf("infer: %w: no windows", ErrInput)
	}
	if len(windows) > m.opts.MaxBatch {
		return nil, fmt.Errorf("infer: %w: %d windows in one run, the maximum is %d (Options.MaxBatch)", ErrInput, len(windows), m.opts.MaxBatch)
	}
	for i, w := range windows {
		if err := m.checkWindow(w); err != nil {
			return nil, fmt.Errorf("infer: %w: window %d: %w", ErrInput, i, err)
		}
	}
	out := &Output{Results: make([]Result, len(windows))}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, fmt.Errorf("infer: run: %w", ErrClosed)
	}
	if len(windows) == 1 || m.batch1 {
		for i, w := range windows {
			d, err := m.run(m.one, windows[i:i+1])
			if err != nil {
				return nil, err
			}
			out.Elapsed += d
			if err := m.decode(m.one, 0, w, &out.Results[i]); err != nil {
				return nil, fmt.Errorf("infer: window %d: %w", i, err)
			}
		}
		return out, nil
	}
	if m.many == nil || m.many.b != len(windows) {
		m.many.destroy()
		m.many = nil
		s, err := m.newIOSet(len(windows))
		if err != nil {
			return nil, err
		}
		m.many = s
	}
	d, err := m.run(m.many, windows)
	if err != nil {
		return nil, err
	}
	out.Elapsed = d
	for i, w := range windows {
		if err := m.decode(m.many, i, w, &out.Results[i]); err != nil {
			return nil, fmt.Errorf("infer: window %d: %w", i, err)
		}
	}
	return out, nil
}

// RunInto runs one window and writes its outputs into dst, reusing dst's
// slices: after the first call with a given dst it allocates nothing. It
// returns the ONNX Runtime call's wall time. Errors are those of Run; dst
// is then unspecified.
func (m *Model) RunInto(dst *Result, w *prep.Window) (time.Duration, error) {
	if err := m.checkWindow(w); err != nil {
		return 0, fmt.Errorf("infer: %w: %w", ErrInput, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, fmt.Errorf("infer: run: %w", ErrClosed)
	}
	d, cpu, err := m.runOne(w)
	if err != nil {
		return 0, err
	}
	dst.RunCPU = cpu
	return d, m.decode(m.one, 0, w, dst)
}

// runOne runs a single window on the B=1 session (m.mu held). It returns
// the wall time of the ONNX Runtime call and, with Options.RunCPU, the
// CPU time the thread spent in it (0 if the thread CPU clock cannot be
// read); the CPU clock is read outside the wall-timed span.
func (m *Model) runOne(w *prep.Window) (wall, cpu time.Duration, err error) {
	s := m.one
	copy(s.x.GetData(), w.Values)
	if s.mask != nil {
		copy(s.mask.GetData(), w.Mask)
	}
	var c0, c1 unix.Timespec
	var cerr error = unix.ENOTSUP
	if m.opts.RunCPU {
		// The goroutine stays on one OS thread so that both readings of
		// the thread's CPU clock are of the thread that ran the call.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cerr = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c0)
	}
	start := time.Now()
	err = m.single.Run()
	wall = time.Since(start)
	if cerr == nil && unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &c1) == nil {
		cpu = time.Duration(c1.Nano() - c0.Nano())
	}
	if err != nil {
		return 0, 0, fmt.Errorf("infer: run %s: %w", m.file.File, err)
	}
	return wall, cpu, nil
}

// run copies windows into s and runs the session of s's batch size
// (m.mu held).
func (m *Model) run(s *ioSet, windows []*prep.Window) (time.Duration, error) {
	if s.b == 1 {
		d, _, err := m.runOne(windows[0])
		return d, err
	}
	sess, err := m.batchSession()
	if err != nil {
		return 0, err
	}
	n := m.S * m.T
	x := s.x.GetData()
	var mask []float32
	if s.mask != nil {
		mask = s.mask.GetData()
	}
	for i, w := range windows {
		copy(x[i*n:(i+1)*n], w.Values)
		if mask != nil {
			copy(mask[i*n:(i+1)*n], w.Mask)
		}
	}
	copy(s.outScratch, s.outValues)
	start := time.Now()
	err = sess.Run(s.inValues, s.outScratch)
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("infer: run %s (batch %d): %w", m.file.File, s.b, err)
	}
	return d, nil
}

// checkWindow refuses a window the model cannot take.
func (m *Model) checkWindow(w *prep.Window) error {
	n := m.S * m.T
	switch {
	case w == nil:
		return fmt.Errorf("nil window")
	case w.Steps != m.T:
		return fmt.Errorf("window has %d steps, the model's input spec has %d", w.Steps, m.T)
	case len(w.Values) != n:
		return fmt.Errorf("window has %d values, want %d (%d sensors x %d steps)", len(w.Values), n, m.S, m.T)
	case len(w.Mask) != n:
		return fmt.Errorf("window mask has %d cells, want %d (%d sensors x %d steps)", len(w.Mask), n, m.S, m.T)
	}
	for i, v := range w.Values {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("value %v of sensor %q at step %d is not finite (prep never yields one: mask the cell instead)",
				v, m.manifest.Input.Sensors[i/m.T].ID, i%m.T)
		}
	}
	for i, v := range w.Mask {
		if v != 0 && v != 1 {
			return fmt.Errorf("mask of sensor %q at step %d is %v, want 0 or 1", m.manifest.Input.Sensors[i/m.T].ID, i%m.T, v)
		}
	}
	return nil
}

// decode maps row i of s's outputs into r, reusing r's slices.
func (m *Model) decode(s *ioSet, i int, w *prep.Window, r *Result) error {
	r.Detector = nil
	var seenHealth, seenAnomaly, seenRUL bool
	nt := 0
	for k, h := range m.heads {
		row := s.outs[k].GetData()[i*h.width : (i+1)*h.width]
		for j, v := range row {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("%s: output %q element %d is %v, not finite", m.file.File, h.head.Output, j, v)
			}
		}
		switch h.head.Kind {
		case bundle.HeadHealth:
			seenHealth = true
			r.Health = resize(r.Health, h.width)
			for j, v := range row {
				r.Health[j] = float64(v)
			}
		case bundle.HeadClass:
			if nt < cap(r.Targets) {
				r.Targets = r.Targets[:nt+1] // keeps the element's Classes array
			} else {
				r.Targets = append(r.Targets, diag.TargetResult{})
			}
			t := &r.Targets[nt]
			nt++
			t.Name = h.head.Target
			t.Classes = resize(t.Classes, h.width)
			t.Predicted = 0
			for j, v := range row {
				t.Classes[j] = diag.ClassProb{Value: h.head.Values[j], Label: h.head.Labels[j], P: float64(v)}
				if v > row[t.Predicted] {
					t.Predicted = j
				}
			}
		case bundle.HeadAnomaly:
			seenAnomaly = true
			r.Sensors = resize(r.Sensors, h.width)
			for j, v := range row {
				id := h.head.Labels[j]
				sc := diag.SensorScore{ID: id}
				if slices.Contains(w.Missing, id) {
					sc.Masked = true
				} else {
					sc.Score = float64(v) / h.head.Thresholds[j]
					sc.Anomalous = sc.Score >= 1
				}
				r.Sensors[j] = sc
			}
		case bundle.HeadRUL:
			seenRUL = true
			if r.RUL == nil {
				r.RUL = new(diag.RUL)
			}
			// A regression head can predict below zero; the cloud API
			// (and sense) requires remaining life >= 0.
			*r.RUL = diag.RUL{P10Hours: max(0, float64(row[0])), P50Hours: max(0, float64(row[1])), P90Hours: max(0, float64(row[2]))}
			if len(h.head.Labels) == 1 {
				r.RUL.Component = h.head.Labels[0]
			}
		}
	}
	if nt == 0 {
		r.Targets = nil
	} else {
		r.Targets = r.Targets[:nt]
	}
	if !seenHealth {
		r.Health = nil
	}
	if !seenAnomaly {
		r.Sensors = nil
	}
	if !seenRUL {
		r.RUL = nil
	}
	return nil
}

// resize returns s with length n, reusing its array when large enough.
func resize[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]T, n)
}
