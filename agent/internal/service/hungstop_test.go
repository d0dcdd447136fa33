package service

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestStopWithHungModelCountsAgainstRelease: a stop during which the
// served model does not stop in time (a run hung in RunInto: the runner
// never returns) left the clean-stop marker, so that the next start
// counted no watch restart or attempt against the release whose model
// hung. It now leaves none; a stop whose time a slow update step (canary,
// activation) used up still leaves it. The hang is the runner's done
// channel swapped for one that stays open until the test ends.
func TestStopWithHungModelCountsAgainstRelease(t *testing.T) {
	stopHung := func(t *testing.T, hang func(a *Agent, hung chan struct{})) (marker bool, stopErr error) {
		u := newUpdateRig(t, nil)
		hung := make(chan struct{})
		defer close(hung)
		u.a.swapMu.Lock()
		hang(u.a, hung)
		u.a.swapMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		err := u.a.Stop(ctx)
		// The rig's cleanup stops the agent again and wants no error.
		u.a.stopErr = nil
		_, serr := os.Stat(filepath.Join(u.a.cfg.Update.Dir, "stopped"))
		if serr != nil && !os.IsNotExist(serr) {
			t.Fatal(serr)
		}
		return serr == nil, err
	}
	t.Run("served model hung", func(t *testing.T) {
		marker, err := stopHung(t, func(a *Agent, hung chan struct{}) { a.cur.Load().done = hung })
		require.ErrorContains(t, err, "windowing did not stop in time")
		require.False(t, marker, "clean-stop marker left although the served model did not stop")
	})
	t.Run("update step slow", func(t *testing.T) {
		marker, err := stopHung(t, func(a *Agent, hung chan struct{}) { a.updateDone = hung })
		require.ErrorContains(t, err, "update did not stop in time")
		require.True(t, marker, "no clean-stop marker after a stop whose time a slow update step used up")
	})
}
