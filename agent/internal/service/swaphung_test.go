package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// modelClosed reports whether m was closed: a run of an empty window
// returns infer.ErrClosed only then.
func modelClosed(t *testing.T, m *infer.Model) bool {
	t.Helper()
	rs, err := prep.NewResampler(m.Spec())
	require.NoError(t, err)
	rs.Reset(time.Now().Truncate(time.Second))
	var res infer.Result
	_, err = m.RunInto(&res, rs.Finish())
	return errors.Is(err, infer.ErrClosed)
}

// TestStopDuringSwapWithHungModel: a model update (Activate) waits for the
// old runner to finish the window it runs. When that runner never does (a
// run hung in RunInto), Activate held swapMu while waiting, and Stop,
// which takes swapMu to stop the windowing, blocked forever. Now Stop
// returns within its deadline, reporting the windowing that did not stop;
// the swap gives up (the old model stays served, the new one is closed)
// and the old model is not closed while its runner runs: only once the
// runner has stopped. The hang is the runner's done channel swapped for
// one that stays open until the test releases it.
func TestStopDuringSwapWithHungModel(t *testing.T) {
	u := newUpdateRig(t, nil)
	a := u.a
	other := filepath.Join(u.dir, "other-bundle")
	require.NoError(t, os.CopyFS(other, os.DirFS(u.bundleDir)))

	hung := make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(hung) }) }
	defer release() // unblocks the old code's deadlock so the test can end
	cancelled := make(chan struct{})
	a.swapMu.Lock()
	old := a.cur.Load()
	cancel := old.cancel
	var cancelOnce sync.Once
	old.cancel = func() { cancel(); cancelOnce.Do(func() { close(cancelled) }) }
	old.done = hung
	a.swapMu.Unlock()

	activated := make(chan error, 1)
	go func() { activated <- a.Activate(context.Background(), other) }()
	select {
	case <-cancelled: // Activate waits for the old runner now
	case err := <-activated:
		t.Fatalf("Activate returned before stopping the old runner: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("Activate did not stop the old runner")
	}

	stopped := make(chan error, 1)
	began := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		stopped <- a.Stop(ctx)
	}()
	var stopErr error
	select {
	case stopErr = <-stopped:
	case <-time.After(15 * time.Second):
		t.Fatal("Stop blocked past its deadline: the swap waiting for a hung runner holds swapMu")
	}
	a.stopErr = nil // the rig's cleanup stops the agent again and wants no error
	assert.Less(t, time.Since(began), 6*time.Second, "Stop ran past its deadline")
	require.ErrorContains(t, stopErr, "windowing did not stop in time")

	select {
	case err := <-activated:
		require.ErrorContains(t, err, "stopping")
	case <-time.After(5 * time.Second):
		t.Fatal("Activate did not give up once the agent stopped")
	}
	assert.Same(t, old, a.cur.Load(), "the swap gave up: the old model stays the served one")
	assert.False(t, modelClosed(t, old.model), "the model was closed while its runner had not stopped")

	// Once the runner stops, its model is closed.
	release()
	waitFor(t, 5*time.Second, "the old model closed after its runner stopped", func() bool { return modelClosed(t, old.model) })
}
