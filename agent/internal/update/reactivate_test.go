package update

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestRollbackActivationRetried: the watchdog rolls back, but the service
// cannot open the previous bundle at that moment (say, out of memory with
// the bad model still loaded). The record said the previous bundle was
// installed and the watch was over, while the service went on serving the
// model that crossed the watchdog's bounds, unwatched, until the next
// restart (months, on an unattended rig). The next cycle now activates the
// installed bundle again until the service serves it.
func TestRollbackActivationRetried(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("commit: %v, %s", err, a.Status().State)
	}
	a.act.mu.Lock()
	a.act.fail = map[string]error{f.factory: errors.New("out of memory")}
	a.act.mu.Unlock()
	for range 25 {
		a.Observe(time.Millisecond, errors.New("bad output"))
	}
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrWatchdog) || a.Current() != f.factory {
		t.Fatalf("rollback: %v, current %s", err, a.Current())
	}
	activations := func() []string {
		a.act.mu.Lock()
		defer a.act.mu.Unlock()
		return slices.Clone(a.act.dirs)
	}
	n := len(activations())
	a.act.mu.Lock()
	a.act.fail = nil
	a.act.mu.Unlock()
	_ = a.Cycle(t.Context())
	got := activations()
	if len(got) != n+1 || got[n] != f.factory {
		t.Fatalf("activations after the failed one %v, want %s activated again", got[n:], f.factory)
	}
	_ = a.Cycle(t.Context())
	if got := activations(); len(got) != n+1 {
		t.Errorf("activated again once served: %v", got[n:])
	}
}
