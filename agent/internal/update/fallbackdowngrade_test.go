package update

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestFallBackNeverToRemovedRelease: 1.1.0 committed, the operator rolls
// it back to 1.0.5 (an explicit rollback: 1.1.0 is the previous bundle),
// then 1.0.5's files are damaged and the agent restarts. Open's fallback
// served the previous bundle, 1.1.0, the very release being removed, in
// state idle. It now serves model.bundle_dir when that can serve and is
// not 1.1.0; when model.bundle_dir is 1.1.0 it refuses to start, saying
// why, rather than serve it.
func TestFallBackNeverToRemovedRelease(t *testing.T) {
	t.Run("to model.bundle_dir", func(t *testing.T) {
		f, a, _ := explicitRollback(t, "1.0.0")
		removed := a.Status().Previous.Dir
		if err := os.Remove(filepath.Join(a.Current(), bundle.ManifestFile)); err != nil {
			t.Fatal(err)
		}
		b := f.open(nil) // the agent crashed or was restarted
		st := b.Status()
		if b.Current() != f.factory || st.Installed.Version != "1.0.0" || st.State != Idle {
			t.Fatalf("after 1.0.5's files were damaged: serving %s (%s), state %s; want model.bundle_dir %s (1.0.0), never 1.1.0 in %s",
				b.Current(), st.Installed.Version, st.State, f.factory, removed)
		}
		if l, _ := os.Readlink(filepath.Join(f.dir, "current")); l != f.factory {
			t.Errorf("current -> %s, want %s", l, f.factory)
		}
		if !strings.Contains(st.LastError, "cannot be served") {
			t.Errorf("last error %q", st.LastError)
		}
	})
	t.Run("model.bundle_dir is the removed release", func(t *testing.T) {
		f, a, _ := explicitRollback(t, "1.1.0")
		if err := os.Remove(filepath.Join(a.Current(), bundle.ManifestFile)); err != nil {
			t.Fatal(err)
		}
		m, err := Open(Options{
			Dir: f.dir, URL: f.srv.URL, TrustedRoot: f.root, InstalledDir: f.factory,
			RigType: testRig, ConfigDigest: testConfigDigest, Hardware: []string{"amd64"}, AgentVersion: "1.0.0",
			Now: a.clock.Now, Logger: slog.New(slog.DiscardHandler),
		})
		if err == nil {
			t.Fatalf("opened serving %s (%s); want a refusal: 1.0.5 is damaged and 1.1.0 (model.bundle_dir too) is being removed",
				m.Current(), m.Status().Installed.Version)
		}
		for _, want := range []string{"explicit rollback", "1.1.0 is being removed", "model.bundle_dir"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if l, _ := os.Readlink(filepath.Join(f.dir, "current")); l == f.factory {
			t.Errorf("current -> %s, the removed release", l)
		}
	})
}
