package update

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestOpenFallsBackFromUnservableInstalled: what Open names to serve must
// be a bundle for this rig. The rig's firmware config changed (a sensor
// added: a new digest) and the operator put a bundle for it in
// model.bundle_dir; state.json still named the release committed for the
// old config, so the agent opened that one, which the firmware config
// refuses, and did not start, at every start, until someone removed the
// update state. The same when the installed bundle's files are gone or
// damaged while the previous one is intact. Open now serves the previous
// bundle, else model.bundle_dir, when it fits where the installed one does
// not.
func TestOpenFallsBackFromUnservableInstalled(t *testing.T) {
	commit := func(t *testing.T) (*fixture, time.Time, string) {
		f := newFixture(t, "1.0.0")
		f.release("1.1.0", nil, nil)
		a := f.open(nil)
		if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
			t.Fatalf("commit: %v, %s", err, a.Status().State)
		}
		return f, a.clock.Now(), a.Current()
	}
	t.Run("firmware config changed", func(t *testing.T) {
		f, now, _ := commit(t)
		digest := "sha256:" + strings.Repeat("ab", 32)
		factory := testBundle(t, "1.0.1", func(m *bundle.Manifest) { m.ConfigDigest = digest })
		later := now.Add(3 * time.Hour)
		b := f.open(func(o *Options) {
			o.ConfigDigest, o.InstalledDir = digest, factory
			o.Now = func() time.Time { return later }
		})
		if b.Current() != factory {
			t.Fatalf("serving %s, want model.bundle_dir %s (the installed release is for another firmware config)", b.Current(), factory)
		}
		if l, _ := os.Readlink(filepath.Join(f.dir, "current")); l != factory {
			t.Errorf("current -> %s", l)
		}
		st := b.Status()
		if st.State != Idle || st.Installed.Version != "1.0.1" || st.Installed.Path != "" || !strings.Contains(st.LastError, "firmware config") {
			t.Errorf("after the fallback: %+v", st.Record)
		}
		// Nothing for the new config is published: the check installs nothing.
		if err := b.Cycle(t.Context()); err != nil || b.Current() != factory {
			t.Errorf("cycle after the fallback: %v, serving %s", err, b.Current())
		}
	})
	t.Run("installed bundle damaged", func(t *testing.T) {
		f, now, installed := commit(t)
		if err := os.Remove(filepath.Join(installed, bundle.ManifestFile)); err != nil {
			t.Fatal(err)
		}
		later := now.Add(3 * time.Hour)
		b := f.open(func(o *Options) { o.Now = func() time.Time { return later } })
		if b.Current() != f.factory {
			t.Fatalf("serving %s, want the previous bundle %s", b.Current(), f.factory)
		}
		if _, err := bundle.Load(b.Current()); err != nil {
			t.Fatal(err)
		}
	})
}
