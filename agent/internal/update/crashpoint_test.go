package update

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// powerCut is the panic value of crashClock: the agent lost power there.
type powerCut struct{}

// crashClock returns a clock at base that panics with powerCut on its
// first call once cut reports true: every state write asks the clock first
// (Record.Updated), so this stops the machine right before the write that
// follows the file operations cut watches for, as a power cut there would.
func crashClock(base time.Time, cut func() bool) func() time.Time {
	return func() time.Time {
		if cut() {
			panic(powerCut{})
		}
		return base
	}
}

// survive runs f, reporting whether it was stopped by a powerCut.
func survive(f func()) (cut bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(powerCut); !ok {
				panic(r)
			}
			cut = true
		}
	}()
	f()
	return false
}

// checkServable fails t unless the agent opened on f's folder at now has
// a bundle to serve that loads, and current points at it.
func checkServable(t *testing.T, f *fixture, now time.Time) *agent {
	t.Helper()
	a := f.open(func(o *Options) { o.Now = func() time.Time { return now } })
	if _, err := bundle.Load(a.Current()); err != nil {
		t.Fatalf("no servable model after the restart: %v (state %+v)", err, a.Status().Record)
	}
	if l, err := os.Readlink(filepath.Join(f.dir, "current")); err != nil || l != a.Current() {
		t.Errorf("current -> %q (%v), want %s", l, err, a.Current())
	}
	return a
}

// TestPowerCutInRestartRollback: the restart that reaches max_attempts
// within the watch rolls back (Open's recovery). A power cut right after
// that recovery removed the rolled-back bundle, before the record saying so
// was stored, left state.json naming the removed bundle as installed; when
// the next start came after the watch's end nothing rolled back again, and
// the agent had no model to serve, at every start.
func TestPowerCutInRestartRollback(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("commit: %v, %s", err, a.Status().State)
	}
	bad := a.Current()
	base := a.clock.Now()
	for range a.opts.MaxAttempts - 1 {
		f.open(func(o *Options) { o.Now = func() time.Time { return base } })
	}
	gone := func() bool { _, err := os.Stat(bad); return os.IsNotExist(err) }
	survive(func() { f.open(func(o *Options) { o.Now = crashClock(base, gone) }) })
	// The power comes back after the watch is over.
	b := checkServable(t, f, base.Add(a.opts.Watch.Window+time.Hour))
	if b.Current() != f.factory {
		t.Errorf("serving %s after the rollback, want the factory bundle %s", b.Current(), f.factory)
	}
}
