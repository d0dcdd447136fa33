package rollout

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// fakeStore answers StepRollout from a table (the real store is tested
// with PostgreSQL in cloud/internal/httpapi's TestRollouts).
type fakeStore struct {
	ids   []int64
	steps map[int64]Step
	fail  map[int64]error
	now   []time.Time
	// counts answers RolloutCounts; countErr fails it.
	counts   map[rolloutapi.State]int
	countErr error
	// mismatched answers FirmwareMismatchedRigs; mismatchedErr fails it.
	mismatched    int
	mismatchedErr error
}

func (f *fakeStore) FirmwareMismatchedRigs(context.Context) (int, error) {
	return f.mismatched, f.mismatchedErr
}

func (f *fakeStore) RolloutCounts(context.Context) (map[rolloutapi.State]int, error) {
	return f.counts, f.countErr
}

func (f *fakeStore) RunningRollouts(context.Context) ([]int64, error) { return f.ids, nil }

func (f *fakeStore) StepRollout(_ context.Context, id int64, now time.Time) (Step, error) {
	f.now = append(f.now, now)
	if err := f.fail[id]; err != nil {
		return Step{}, err
	}
	s := f.steps[id]
	s.RolloutID = id
	return s, nil
}

func TestEngineTick(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	f := &fakeStore{ids: []int64{1, 2, 3, 4}, steps: map[int64]Step{1: {Event: EventAdvanced, Cohort: 1}, 2: {Locked: true}, 4: {Event: EventHalted}},
		fail: map[int64]error{3: boom}, counts: map[rolloutapi.State]int{rolloutapi.Running: 4, rolloutapi.Completed: 2}}
	e := NewEngine(f, Options{Now: func() time.Time { return t0 }})
	steps, err := e.Tick(context.Background())
	require.ErrorIs(t, err, boom, "the first error is returned")
	assert.Len(t, steps, 3, "the other rollouts are still stepped")
	assert.Equal(t, []time.Time{t0, t0, t0, t0}, f.now)
	assert.Equal(t, 1.0, testutil.ToFloat64(e.events.WithLabelValues(EventAdvanced)))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.events.WithLabelValues(EventHalted)))
	assert.Equal(t, 0.0, testutil.ToFloat64(e.events.WithLabelValues(EventCompleted)))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.errors))
	assert.Equal(t, 11, testutil.CollectAndCount(e), "three event series, the error counter, six states and the mismatched rigs")
	assert.Equal(t, 4.0, testutil.ToFloat64(e.rollouts.WithLabelValues("running")))
	assert.Equal(t, 2.0, testutil.ToFloat64(e.rollouts.WithLabelValues("completed")))
	assert.Equal(t, 0.0, testutil.ToFloat64(e.rollouts.WithLabelValues("halted")), "a state without rollouts is 0")

	// The gauge follows the next pass; a failed count keeps the last
	// values and counts an error.
	f.fail, f.counts = nil, map[rolloutapi.State]int{rolloutapi.Running: 3, rolloutapi.Completed: 3}
	_, err = e.Tick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3.0, testutil.ToFloat64(e.rollouts.WithLabelValues("running")))
	f.countErr = boom
	_, err = e.Tick(context.Background())
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 3.0, testutil.ToFloat64(e.rollouts.WithLabelValues("completed")))
	assert.Equal(t, 2.0, testutil.ToFloat64(e.errors))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); NewEngine(f, Options{Interval: time.Millisecond}).Run(ctx) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// rig_cloud_rigs_firmware_mismatched follows each pass; a failed count
// keeps the last value, counts an error and does not stop the rollout
// gauge's refresh.
func TestEngineFirmwareMismatchedGauge(t *testing.T) {
	boom := errors.New("boom")
	f := &fakeStore{mismatched: 3}
	e := NewEngine(f, Options{})
	assert.Equal(t, 0.0, testutil.ToFloat64(e.mismatched), "0 before the first pass")
	_, err := e.Tick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 3.0, testutil.ToFloat64(e.mismatched))
	f.mismatched = 1
	_, err = e.Tick(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1.0, testutil.ToFloat64(e.mismatched))
	f.mismatchedErr, f.counts = boom, map[rolloutapi.State]int{rolloutapi.Running: 2}
	_, err = e.Tick(context.Background())
	require.ErrorIs(t, err, boom)
	assert.Equal(t, 1.0, testutil.ToFloat64(e.mismatched))
	assert.Equal(t, 2.0, testutil.ToFloat64(e.rollouts.WithLabelValues("running")))
	assert.Equal(t, 1.0, testutil.ToFloat64(e.errors))
}
