package update

import (
	"testing"
	"time"
)

// TestWatchAfterClockWentBack: a rig without a battery-backed clock
// restarts within the watch with its clock 30 days behind (a power cut;
// NTP unreachable). The watch ended at the commit's time plus
// watch.window, 30 days ahead of that clock: for 30 days of running the
// updater stayed committed (no check for a newer release or an explicit
// rollback, every restart counted against the committed release). The
// watch now lasts at most watch.window from any clock reading.
func TestWatchAfterClockWentBack(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("commit: %v, %s", err, a.Status().State)
	}
	now := a.clock.Now().Add(-30 * 24 * time.Hour)
	b := f.open(func(o *Options) { o.Now = func() time.Time { return now } })
	if st := b.Status(); st.State != Committed || st.WatchUntil.After(now.Add(b.opts.Watch.Window)) {
		t.Errorf("restart 30 days back: state %s, watch until %s (the clock reads %s, the window is %s)",
			st.State, st.WatchUntil, now, b.opts.Watch.Window)
	}
	now = now.Add(b.opts.Watch.Window + time.Minute)
	if err := b.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := b.Status(); st.State != Idle || !st.WatchUntil.IsZero() || st.Installed.Version != "1.1.0" {
		t.Errorf("a window after the restart: state %s, watch until %s, installed %s", st.State, st.WatchUntil, st.Installed.Version)
	}
}
