package update

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

func TestInstallCommitWatch(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	a := f.open(nil)
	if a.Current() != f.factory {
		t.Fatalf("current %s, want the factory bundle", a.Current())
	}
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st := a.Status()
	if st.State != Committed || st.Installed.Version != "1.1.0" || st.Installed.Path != path || st.Previous.Dir != f.factory {
		t.Fatalf("status %+v", st.Record)
	}
	want := []string{"checking>downloading", "downloading>verifying", "verifying>staged", "staged>canary", "canary>committing", "committing>committed"}
	if got := a.transitions(); !slices.Equal(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	if link, _ := os.Readlink(filepath.Join(f.dir, "current")); link != a.Current() || !strings.HasPrefix(link, filepath.Join(f.dir, "bundles")) {
		t.Errorf("current -> %s, Current() %s", link, a.Current())
	}
	if m, err := bundle.Load(a.Current()); err != nil || m.Version != "1.1.0" {
		t.Errorf("committed bundle: %v %v", m, err)
	}
	if !slices.Equal(a.act.dirs, []string{a.Current()}) || a.canary.calls != 1 {
		t.Errorf("activations %v, canary calls %d", a.act.dirs, a.canary.calls)
	}
	// Nothing else is started during the watch, even with a newer release.
	f.release("1.2.0", nil, nil)
	if err := a.Cycle(t.Context()); err != nil || a.Status().Installed.Version != "1.1.0" {
		t.Fatalf("cycle during the watch: %v, installed %s", err, a.Status().Installed.Version)
	}
	// After the watch the newer release is installed; the bundle before
	// the previous one is removed.
	a.clock.Add(2 * time.Hour)
	before := len(a.transitions())
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = a.Status()
	if st.State != Committed || st.Installed.Version != "1.2.0" || st.Previous.Version != "1.1.0" {
		t.Fatalf("second release: %+v", st.Record)
	}
	// Reported as stored: the watch ends (committed -> idle), then a check.
	if got := a.transitions()[before:]; len(got) < 2 || got[0] != "committed>idle" || got[1] != "idle>checking" {
		t.Errorf("transitions after the watch %v, want committed>idle, idle>checking first", got)
	}
	ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles"))
	if len(ents) != 2 {
		t.Errorf("bundles kept: %v", ents)
	}
	if parts, _ := os.ReadDir(filepath.Join(f.dir, "download")); len(parts) != 0 {
		t.Errorf("part files left: %v", parts)
	}
	// A restart serves the committed model (the watch is over).
	a.clock.Add(2 * time.Hour)
	b := f.open(func(o *Options) { o.Now = a.clock.Now })
	if b.Current() != st.Installed.Dir {
		t.Errorf("after restart current %s, want %s", b.Current(), st.Installed.Dir)
	}
}

func TestRefusals(t *testing.T) {
	anyKey := func(t testing.TB) []ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return []ed25519.PrivateKey{k}
	}
	// newTarget lists an archive of a 9.0.0 bundle that the real targets
	// key never signed.
	newTarget := func(f *fixture) func(*metadata.TargetsType) {
		other := newFixture(f.t, "1.0.0")
		p := other.release("9.0.0", nil, nil)
		tgts := other.repo.Targets()
		return func(s *metadata.TargetsType) {
			b, _ := os.ReadFile(other.archive(p))
			dst := filepath.Join(f.repo.Dir(), "targets", filepath.Base(filepath.Dir(other.archive(p))))
			os.MkdirAll(dst, 0o755)
			os.WriteFile(filepath.Join(dst, filepath.Base(other.archive(p))), b, 0o644)
			s.Targets[p] = tgts[p]
		}
	}
	type tc struct {
		name  string
		setup func(f *fixture, a *agent)
		is    error  // errors.Is target (nil: the cycle succeeds)
		as    any    // errors.As target
		msg   string // in the error, or in a skip reason
	}
	cases := []tc{
		{name: "tampered bundle", setup: func(f *fixture, a *agent) {
			file := f.archive(f.release("1.1.0", nil, nil))
			b, _ := os.ReadFile(file)
			b[len(b)/2] ^= 0xff
			os.WriteFile(file, b, 0o644)
		}, is: ErrVerify, as: new(*metadata.ErrLengthOrHashMismatch)},
		{name: "unknown key", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			f.forge(anyKey(f.t), newTarget(f))
		}, is: ErrMetadata, as: new(*metadata.ErrUnsignedMetadata), msg: "targets"},
		{name: "repository offline", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			f.srv.Close()
		}, is: ErrMetadata, msg: "connection refused"},
		{name: "revoked key", setup: func(f *fixture, a *agent) {
			// The targets key is rotated (root 2 revokes it); whoever kept
			// the old key signs targets listing a new model.
			old := f.readKeys("targets")
			if err := f.repo.Rotate("targets", 0, 0); err != nil {
				f.t.Fatal(err)
			}
			f.release("1.1.0", nil, nil)
			f.forge(old, newTarget(f))
		}, is: ErrMetadata, as: new(*metadata.ErrUnsignedMetadata), msg: "targets"},
		{name: "online keys alone", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			f.forge(append(f.readKeys("snapshot"), f.readKeys("timestamp")...), newTarget(f))
		}, is: ErrMetadata, as: new(*metadata.ErrUnsignedMetadata), msg: "targets"},
		{name: "expired timestamp", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			a.clock.Add(36 * time.Hour) // the timestamp lasts a day
		}, is: ErrMetadata, as: new(*metadata.ErrExpiredMetadata), msg: "timestamp"},
		{name: "expired targets", setup: func(f *fixture, a *agent) {
			// Targets signed 100 days ago (90-day expiry), then fresh
			// snapshot and timestamp over them.
			past := func() time.Time { return time.Now().Add(-100 * 24 * time.Hour) }
			old, err := tufrepo.Open(f.repo.Dir(), f.keys, tufrepo.Options{Now: past})
			if err != nil {
				f.t.Fatal(err)
			}
			if _, _, err := old.AddBundle(testBundle(f.t, "1.1.0", nil), nil); err != nil {
				f.t.Fatal(err)
			}
			now, err := tufrepo.Open(f.repo.Dir(), f.keys, tufrepo.Options{})
			if err != nil {
				f.t.Fatal(err)
			}
			if err := now.Refresh(); err != nil {
				f.t.Fatal(err)
			}
		}, is: ErrMetadata, as: new(*metadata.ErrExpiredMetadata), msg: "targets"},
		{name: "target not in the snapshot", setup: func(f *fixture, a *agent) {
			f.release("1.0.1", nil, nil)
			dir := f.repo.Dir()
			ts2, _ := os.ReadFile(filepath.Join(dir, "timestamp.json"))
			f.release("1.1.0", nil, nil)
			// Targets 3 (listing 1.1.0) served where snapshot 2 names
			// targets 2, under the old timestamp.
			t3, _ := os.ReadFile(filepath.Join(dir, "3.targets.json"))
			os.WriteFile(filepath.Join(dir, "2.targets.json"), t3, 0o644)
			os.WriteFile(filepath.Join(dir, "timestamp.json"), ts2, 0o644)
		}, is: ErrMetadata, as: new(*metadata.ErrBadVersionNumber)},
		{name: "older version", setup: func(f *fixture, a *agent) {
			f.release("0.9.0", nil, nil)
		}, msg: "not newer than the installed 1.0.0"},
		{name: "same version", setup: func(f *fixture, a *agent) {
			f.release("1.0.0", nil, nil)
		}, msg: "not newer than the installed 1.0.0"},
		{name: "another rig type", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, func(m *bundle.Manifest) { m.RigType = "zema-testrig" })
		}, msg: `rig_type "zema-testrig" is not this rig's "skab-testbed"`},
		{name: "another firmware config", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, func(m *bundle.Manifest) { m.ConfigDigest = "sha256:" + strings.Repeat("ab", 32) })
		}, msg: "is not this rig's firmware config"},
		{name: "another hardware", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", []string{"arm64", "jetson-orin"}, nil)
		}, msg: "hardware [arm64, jetson-orin] does not include this machine's [amd64]"},
		{name: "newer agent needed", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, func(m *bundle.Manifest) { m.MinAgentVersion = "2.0.0" })
		}, msg: "needs rig-agent 2.0.0 or later"},
		{name: "download longer than stated", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
				b, _ := os.ReadFile(file)
				w.Write(append(b, make([]byte, 4096)...))
				return true
			}
		}, is: ErrTooLong},
		{name: "truncated", setup: func(f *fixture, a *agent) {
			f.release("1.1.0", nil, nil)
			f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
				b, _ := os.ReadFile(file)
				w.Write(b[:len(b)/2])
				return true
			}
		}, is: ErrTruncated},
		{name: "manifest not the signed one", setup: func(f *fixture, a *agent) {
			// The targets key signs custom metadata whose manifest
			// digest is not the archived manifest's.
			p := f.release("1.1.0", nil, nil)
			f.forge(f.readKeys("targets"), func(s *metadata.TargetsType) {
				tf := s.Targets[p]
				rel, err := release.FromTargetFile(tf)
				if err != nil {
					f.t.Fatal(err)
				}
				rel.ManifestDigest = "sha256:" + strings.Repeat("0", 64)
				if err := rel.Apply(tf); err != nil {
					f.t.Fatal(err)
				}
			})
		}, is: ErrMismatch, msg: "manifest digest"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, "1.0.0")
			a := f.open(nil)
			f.t = t
			c.setup(f, a)
			err := a.Cycle(t.Context())
			st := a.Status()
			if a.Current() != f.factory || st.Installed.Dir != f.factory || st.State == Committed {
				t.Fatalf("the running model changed: current %s, state %s", a.Current(), st.State)
			}
			if link, _ := os.Readlink(filepath.Join(f.dir, "current")); link != f.factory {
				t.Errorf("current -> %s", link)
			}
			if len(a.act.dirs) != 0 {
				t.Errorf("activated %v", a.act.dirs)
			}
			if c.is == nil && c.as == nil {
				if err != nil {
					t.Fatal(err)
				}
				var reasons []string
				for _, s := range st.LastCheck.Skipped {
					reasons = append(reasons, s.Reason)
				}
				if st.LastCheck.Pick != nil || !strings.Contains(strings.Join(reasons, "\n"), c.msg) {
					t.Errorf("pick %v, skipped %q, want %q", st.LastCheck.Pick, reasons, c.msg)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error (state %s)", st.State)
			}
			t.Logf("refused: %v", err)
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("error %v is not %v", err, c.is)
			}
			if c.as != nil && !errors.As(err, c.as) {
				t.Errorf("error %v (%T) is not a %T", err, err, c.as)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("error %q does not say %q", err, c.msg)
			}
		})
	}
}
