package update

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// explicitRollback installs 1.0.5 then 1.1.0 (offered) over the factory
// bundle (1.0.0), then the explicit rollback to 1.0.5, the kept previous
// bundle (offered after the watch), and returns the agent watching 1.0.5
// with 1.1.0 as its previous bundle. With factory "1.1.0", model.bundle_dir
// then holds 1.1.0, the release being removed (the rig re-imaged, or the
// operator pointed it there): an offered downgrade goes only to the kept
// previous bundle, so a factory 1.1.0 could never get there itself.
func explicitRollback(t *testing.T, factory string) (*fixture, *agent, string) {
	t.Helper()
	f := newFixture(t, "1.0.0")
	p105 := f.release("1.0.5", nil, nil)
	p110 := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	a := f.open(func(o *Options) {
		o.Offers = offers
		o.Watch = Watch{MinRuns: 4, MaxErrorRate: 0.2}
	})
	for i, p := range []struct{ path, version string }{{p105, "1.0.5"}, {p110, "1.1.0"}} {
		offers.set(&cloudapi.Offer{Target: p.path, Version: p.version, Rollout: int64(6 + i)})
		if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != p.version {
			t.Fatalf("offered %s: %v, %+v", p.version, err, a.Status().Record)
		}
		a.clock.Add(2 * time.Hour) // past the watch
		if err := a.Cycle(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	offers.set(&cloudapi.Offer{Target: p105, Version: "1.0.5", Rollout: 8})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed || st.Installed.Version != "1.0.5" || st.Previous.Version != "1.1.0" {
		t.Fatalf("explicit rollback to 1.0.5: %+v", st.Record)
	}
	if factory != "1.0.0" {
		f.factory = testBundle(t, factory, nil)
		a.opts.InstalledDir = f.factory
	}
	return f, a, p105
}

// trip makes the watchdog roll back: every run fails.
func trip(t *testing.T, a *agent) error {
	t.Helper()
	for range 4 {
		a.Observe(time.Millisecond, errors.New("infer: output not finite"))
	}
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrWatchdog) {
		t.Fatalf("watchdog: %v", err)
	}
	return err
}

// TestFailedExplicitRollbackNotUndone: the operator rolls 1.1.0 back to
// 1.0.5 (an older release offered) and 1.0.5 trips the watchdog. The
// rollback went to the previous bundle, 1.1.0, the release the operator
// was removing, and gave 1.0.5 up. It now goes to model.bundle_dir (the
// factory bundle, 1.0.0), never to 1.1.0, whose bundle is removed.
func TestFailedExplicitRollbackNotUndone(t *testing.T) {
	f, a, p105 := explicitRollback(t, "1.0.0")
	removed := a.Status().Previous.Dir
	trip(t, a)
	st := a.Status()
	if st.Installed.Version != "1.0.0" || a.Current() != f.factory || st.Previous != nil || st.State != Idle || st.Rollbacks != 1 {
		t.Fatalf("after the failed explicit rollback: serving %s (%s), previous %+v, state %s, rollbacks %d; want the factory bundle %s",
			st.Installed.Version, a.Current(), st.Previous, st.State, st.Rollbacks, f.factory)
	}
	if st.Attempts[p105] != a.opts.MaxAttempts {
		t.Errorf("1.0.5 attempts %d, want given up (%d)", st.Attempts[p105], a.opts.MaxAttempts)
	}
	if l, _ := os.Readlink(filepath.Join(f.dir, "current")); l != f.factory {
		t.Errorf("current -> %s, want %s", l, f.factory)
	}
	if got := a.act.dirs[len(a.act.dirs)-1]; got != f.factory {
		t.Errorf("activated %s last, want %s", got, f.factory)
	}
	if _, err := os.Stat(removed); !os.IsNotExist(err) {
		t.Errorf("the removed release's bundle %s kept: %v", removed, err)
	}
	// The same through restarts within the watch (Open's recovery).
	f2, b, _ := explicitRollback(t, "1.0.0")
	for range b.opts.MaxAttempts {
		b = f2.open(nil)
	}
	if st := b.Status(); st.Installed.Version != "1.0.0" || b.Current() != f2.factory {
		t.Errorf("after %d crashes watching the explicit rollback: serving %s (%s), want the factory bundle",
			b.opts.MaxAttempts, st.Installed.Version, b.Current())
	}
}

// TestFailedExplicitRollbackKeepsServing: when model.bundle_dir is the
// release being removed (a factory 1.1.0 rolled back to 1.0.5), nothing
// but 1.0.5 is left to serve: it keeps serving, the watch ends, and the
// failure is in last_error; 1.1.0 is not served again.
func TestFailedExplicitRollbackKeepsServing(t *testing.T) {
	f, a, p105 := explicitRollback(t, "1.1.0")
	installed := a.Current()
	n := len(a.act.dirs)
	trip(t, a)
	st := a.Status()
	if st.Installed.Version != "1.0.5" || a.Current() != installed || st.State != Idle || !st.WatchUntil.IsZero() {
		t.Fatalf("after the failed explicit rollback: serving %s (%s), state %s, watch until %s; want 1.0.5 kept",
			st.Installed.Version, a.Current(), st.State, st.WatchUntil)
	}
	if st.Attempts[p105] != 0 || st.Rollbacks != 0 {
		t.Errorf("attempts %v, rollbacks %d: nothing was rolled back", st.Attempts, st.Rollbacks)
	}
	if !strings.Contains(st.LastError, "runs failed") || !strings.Contains(st.LastError, "keeps serving") {
		t.Errorf("last error %q", st.LastError)
	}
	if len(a.act.dirs) != n {
		t.Errorf("activated %v after the trip", a.act.dirs[n:])
	}
	if l, _ := os.Readlink(filepath.Join(f.dir, "current")); l != installed {
		t.Errorf("current -> %s, want %s", l, installed)
	}
}
