package update

import (
	"errors"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// TestRefusedRollbackKeepsWatch (review r11 F2): the agent was installed
// from model.bundle_dir 1.0.0, which is not the signed 1.0.0 release (another
// manifest). It commits 1.1.0; the operator rolls the rollout back to the
// signed 1.0.0. The check refuses that offer (not the kept previous
// bundle), but the offer's version alone ended the watch first: the agent
// served 1.1.0 with no watchdog. Now only a check that picks the rollback
// ends the watch; the refusal leaves 1.1.0 committed and watched, and the
// check after the watch refuses it as incompatible.
func TestRefusedRollbackKeepsWatch(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p100 := f.release("1.0.0", nil, func(m *bundle.Manifest) { m.Metrics = map[string]float64{"other": 1} })
	p110 := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	a := f.open(func(o *Options) { o.Offers = offers })
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 1})
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.State != Committed || st.WatchUntil.IsZero() {
		t.Fatalf("1.1.0 offered: state %s, watch until %s", st.State, st.WatchUntil)
	}
	watch := st.WatchUntil

	offers.set(&cloudapi.Offer{Target: p100, Version: "1.0.0", Rollout: 2})
	for i := range 2 {
		err := a.Cycle(t.Context())
		if !errors.Is(err, ErrIncompatible) {
			t.Errorf("cycle %d: the signed 1.0.0 offered: %v, want ErrIncompatible", i, err)
		}
		st = a.Status()
		if st.State != Committed || !st.WatchUntil.Equal(watch) || st.Installed.Version != "1.1.0" || a.Current() != st.Installed.Dir {
			t.Fatalf("cycle %d: a refused rollback offer during the watch: state %s, watch until %s (was %s), installed %s",
				i, st.State, st.WatchUntil, watch, st.Installed.Version)
		}
		if st.LastCheck == nil || len(st.LastCheck.Skipped) != 1 || st.LastCheck.Skipped[0].Path != p100 || st.LastError == "" {
			t.Errorf("cycle %d: the refusal is not shown: last check %+v, last error %q", i, st.LastCheck, st.LastError)
		}
	}

	a.clock.Add(2 * time.Hour)
	if err := a.Cycle(t.Context()); !errors.Is(err, ErrIncompatible) {
		t.Errorf("after the watch: %v, want ErrIncompatible", err)
	}
	if st = a.Status(); st.State != Incompatible || !st.WatchUntil.IsZero() || st.Installed.Version != "1.1.0" {
		t.Errorf("after the watch: state %s, watch until %s, installed %s", st.State, st.WatchUntil, st.Installed.Version)
	}
}
