package windowing

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// slowCalibration is a Detector whose calibration takes long (a batch
// over every calibration window, a TensorRT engine build): its Run
// blocks until released while it is calibrating.
type slowCalibration struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (d *slowCalibration) Calibrating() bool { return true }

func (d *slowCalibration) Run(dst *infer.Result, w *prep.Window) (time.Duration, error) {
	d.once.Do(func() { close(d.entered) })
	<-d.release
	return time.Millisecond, nil
}

// A detector that is calibrating is beaten for while it runs a window
// (up to liveness.ModelOpenBound): a calibration longer than
// agent.stall_after does not make the windowing stalled.
func TestCalibrationIsBeatenFor(t *testing.T) {
	old := liveness.Interval
	liveness.Interval = 5 * time.Millisecond
	defer func() { liveness.Interval = old }()
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	reg, err := liveness.New(time.Minute, clock)
	require.NoError(t, err)
	beat, err := reg.Register("windowing")
	require.NoError(t, err)

	rg := newRig(t)
	det := &slowCalibration{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(det.release) }) }
	defer release()
	start(t, rg, &fakeModel{spec: testSpec()}, Options{Detector: det, Heartbeat: beat})
	require.NoError(t, rg.buf.Append(context.Background(), cycle(t0, 0, 10, "A", "B", "C")))
	select {
	case <-det.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("the detector never ran")
	}
	mu.Lock()
	now = now.Add(5 * time.Minute) // the calibration has run for 5 min
	jumped := now
	mu.Unlock()
	waitFor(t, "a beat after the jump", func() bool { return !reg.Loops()[0].LastBeat.Before(jumped) })
	assert.Empty(t, reg.Stalled(), "a calibration in progress is no stall")
	release()
}
