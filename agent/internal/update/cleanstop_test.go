package update

import (
	"context"
	"sync"
	"testing"
)

// TestCleanStopsDuringWatchNotCounted: three orderly stops (SIGTERM, a
// maintenance reboot) within the watch of a healthy release counted as
// three restarts and rolled it back, the same as three crashes. Only a
// start that finds no clean-stop marker (Close) counts one now.
func TestCleanStopsDuringWatchNotCounted(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("commit: %v, %s", err, a.Status().State)
	}
	installed := a.Current()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= a.opts.MaxAttempts+1; i++ {
		b := f.open(nil)
		if st := b.Status(); st.State != Committed || st.WatchRestarts != 0 || b.Current() != installed || st.Rollbacks != 0 {
			t.Fatalf("start %d after a clean stop: state %s, restarts %d, current %s (want %s), last error %q",
				i, st.State, st.WatchRestarts, b.Current(), installed, st.LastError)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A crash still counts: this run is not closed.
	f.open(nil)
	if st := f.open(nil).Status(); st.State != Committed || st.WatchRestarts != 1 {
		t.Errorf("start after a crash: state %s, restarts %d (want 1)", st.State, st.WatchRestarts)
	}
}

// slowCanary is a canary that does not return before release is closed,
// whatever its context says (a TensorRT engine build cannot be
// cancelled).
type slowCanary struct {
	started chan struct{}
	release chan struct{}
}

func (c *slowCanary) Check(ctx context.Context, _, _ string) error {
	c.started <- struct{}{}
	<-c.release
	return ctx.Err()
}

// TestStopDuringSlowCanaryNotCounted: Stop's deadline passed while the
// canary was still building its engine; the agent exited with canary
// stored, and the next start counted an attempt, so three such stops gave
// a healthy release up. A clean stop (Close) counts none.
func TestStopDuringSlowCanaryNotCounted(t *testing.T) {
	f, a := stage(t)
	path := a.Status().Target.Path
	c := &slowCanary{started: make(chan struct{}), release: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() { close(c.release); wg.Wait() })
	for i := 1; i <= a.opts.MaxAttempts; i++ {
		b := f.open(func(o *Options) { o.Canary = c })
		ctx, cancel := context.WithCancel(t.Context())
		wg.Go(func() { _ = b.Cycle(ctx) })
		<-c.started
		cancel() // Stop cancels the updater, whose canary goes on
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		next := f.open(nil)
		if st := next.Status(); st.State != Staged || st.Attempts[path] != 0 {
			t.Fatalf("start %d after a stop during the canary: state %s, attempts %v, last error %q", i, st.State, st.Attempts, st.LastError)
		}
		if err := next.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
