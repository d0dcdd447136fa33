package update

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestOldStateExplicitRollbackNotUndone: an explicit rollback (1.1.0 back
// to 1.0.5) committed by an agent from before Bundle.Downgrade left a
// state.json without "downgrade"; the agent binary is upgraded during the
// watch and 1.0.5 trips the watchdog. The new agent read it as an
// ordinary commit and went back to 1.1.0, the release being removed.
// loadRecord now takes a committed bundle older than its previous one for
// what it is, an explicit rollback (nothing else installs an older release
// in state committed), and the rollback goes to model.bundle_dir.
func TestOldStateExplicitRollbackNotUndone(t *testing.T) {
	f, a, p105 := explicitRollback(t, "1.0.0")
	st := a.Status()
	in, prev := st.Installed, st.Previous
	// state.json as the older agent wrote it, watching 1.0.5.
	old := fmt.Sprintf(`{
  "format": 1,
  "state": "committed",
  "installed": {"dir": %q, "version": "1.0.5", "manifest_digest": %q, "path": %q, "rollout": 8},
  "previous": {"dir": %q, "version": "1.1.0", "manifest_digest": %q, "path": %q, "rollout": 7},
  "watch_until": %q,
  "rollout": 8,
  "updated": %q
}
`, in.Dir, in.ManifestDigest, in.Path, prev.Dir, prev.ManifestDigest, prev.Path,
		a.clock.Now().Add(30*time.Minute).UTC().Format(time.RFC3339Nano), a.clock.Now().UTC().Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(f.dir, "state.json"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	// The new binary starts (the old one stopped in order) and watches on.
	if err := os.WriteFile(filepath.Join(f.dir, "stopped"), []byte("stopped in order\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := f.open(func(o *Options) {
		o.Now = a.clock.Now
		o.Watch = Watch{MinRuns: 4, MaxErrorRate: 0.2}
	})
	if st := b.Status(); st.State != Committed || st.Installed.Version != "1.0.5" {
		t.Fatalf("old state.json read as %+v; want 1.0.5 watched", st.Record)
	} else if !st.Installed.Downgrade {
		t.Errorf("old state.json: installed %+v not taken for an explicit rollback", *st.Installed)
	}
	trip(t, b)
	st = b.Status()
	if st.Installed.Version != "1.0.0" || b.Current() != f.factory || st.Previous != nil {
		t.Fatalf("after the watchdog: serving %s (%s), previous %+v; want model.bundle_dir (1.0.0), never 1.1.0",
			b.Current(), st.Installed.Version, st.Previous)
	}
	if st.Attempts[p105] != b.opts.MaxAttempts {
		t.Errorf("1.0.5 attempts %d, want given up (%d)", st.Attempts[p105], b.opts.MaxAttempts)
	}
}
