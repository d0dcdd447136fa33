package tufrepo

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// splitKeys moves the keys of the given roles from keys to a new folder,
// as a key ceremony hands them out.
func splitKeys(t testing.TB, keys string, roles ...string) string {
	t.Helper()
	dst := t.TempDir()
	for _, role := range roles {
		pems, _ := filepath.Glob(filepath.Join(keys, role+"-*.pem"))
		for _, p := range pems {
			if err := os.Rename(p, filepath.Join(dst, filepath.Base(p))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

// onlineRepo initialises a repository, moves its root and targets keys
// to offline (as a key ceremony hands them out) and opens it as rig-cloud
// does, with the online keys left in keys.
func onlineRepo(t testing.TB) (srv *Repo, keys, offline string) {
	t.Helper()
	r, keys := newRepo(t, Options{})
	offline = splitKeys(t, keys, "root", "targets")
	return mustOpen(t, r.Dir(), keys, Options{}), keys, offline
}

// mustPublish publishes s with its archive arch on srv.
func mustPublish(t testing.TB, srv *Repo, s *Signed, arch string) {
	t.Helper()
	if _, _, err := srv.Publish(s.Targets, arch); err != nil {
		t.Fatal(err)
	}
}

// signed is a release of the test bundle at version, signed with the
// targets keys in keys over r's current metadata, its archive written
// into r's folder.
func signed(t testing.TB, r *Repo, keys, version string) (*Signed, string) {
	t.Helper()
	f, err := os.CreateTemp(r.Dir(), ".incoming-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := SignRelease(r.root, r.targets, keys, testBundle(t, version), nil, f, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, f.Name()
}

func TestPublishSignedOffline(t *testing.T) {
	srv, _, offline := onlineRepo(t)
	if got := srv.OfflineKeys(); len(got) != 0 {
		t.Fatalf("OfflineKeys = %v with only the online keys", got)
	}
	root, err := srv.Root()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, srv.Dir())

	for i, v := range []string{"1.0.0", "1.1.0"} {
		s, arch := signed(t, srv, offline, v)
		rel, tf, err := srv.Publish(s.Targets, arch)
		if err != nil {
			t.Fatal(err)
		}
		if tf.Path != "skab-testbed/skab-testbed-"+v+".tar.gz" || rel.Version != v {
			t.Fatalf("published %s %s", tf.Path, rel.Version)
		}
		if _, err := os.Stat(arch); !os.IsNotExist(err) {
			t.Errorf("the staged archive is still there: %v", err)
		}
		want := map[string]int64{"root": 1, "targets": int64(2 + i), "snapshot": int64(2 + i), "timestamp": int64(2 + i)}
		if got := srv.Versions(); !equalVersions(got, want) {
			t.Errorf("versions %v, want %v", got, want)
		}
		got, err := fetch(t, client(t, url, root), tf.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Version != v {
			t.Errorf("client got version %s", got.Version)
		}
	}
	// Both releases stay listed and downloadable.
	if _, err := fetch(t, client(t, url, root), "skab-testbed/skab-testbed-1.0.0.tar.gz"); err != nil {
		t.Fatal(err)
	}
}

func equalVersions(a, b map[string]int64) bool {
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

func TestPublishRefused(t *testing.T) {
	srv, keys, offline := onlineRepo(t)
	// A first release, so that changes to released targets can be tried.
	s, arch := signed(t, srv, offline, "1.0.0")
	mustPublish(t, srv, s, arch)
	offKeys, err := readKeys(offline)
	if err != nil {
		t.Fatal(err)
	}
	// resign re-signs md with the given keys after edit.
	resign := func(b []byte, keys map[string]ed25519.PrivateKey, edit func(*metadata.Metadata[metadata.TargetsType])) []byte {
		md, err := metadata.Targets().FromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		edit(md)
		md.ClearSignatures()
		for _, k := range keys {
			if err := signWith(md, k); err != nil {
				t.Fatal(err)
			}
		}
		out, err := md.ToBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	online := srv.keys
	targetsKeys := offKeys

	for _, tc := range []struct {
		name    string
		version string
		edit    func(t *testing.T, s *Signed, arch string) []byte
		want    string
		wantErr error
	}{
		{"signed by the online keys", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, online, func(*metadata.Metadata[metadata.TargetsType]) {})
		}, "not signed by the targets keys", ErrRefused},
		{"unsigned", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, nil, func(*metadata.Metadata[metadata.TargetsType]) {})
		}, "not signed by the targets keys", ErrRefused},
		{"not json", "2.0.0", func(*testing.T, *Signed, string) []byte { return []byte("{") }, "does not decode", ErrRefused},
		{"same version", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, targetsKeys, func(md *metadata.Metadata[metadata.TargetsType]) { md.Signed.Version-- })
		}, "the next is 3", ErrRefused},
		{"expired", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, targetsKeys, func(md *metadata.Metadata[metadata.TargetsType]) {
				md.Signed.Expires = time.Now().Add(-time.Minute)
			})
		}, "expired", ErrRefused},
		{"released target removed", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, targetsKeys, func(md *metadata.Metadata[metadata.TargetsType]) {
				delete(md.Signed.Targets, "skab-testbed/skab-testbed-1.0.0.tar.gz")
			})
		}, "missing from the new targets", ErrRefused},
		{"released target changed", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, targetsKeys, func(md *metadata.Metadata[metadata.TargetsType]) {
				md.Signed.Targets["skab-testbed/skab-testbed-1.0.0.tar.gz"].Length++
			})
		}, "changed in the new targets", ErrRefused},
		{"two targets added", "2.0.0", func(t *testing.T, s *Signed, _ string) []byte {
			return resign(s.Targets, targetsKeys, func(md *metadata.Metadata[metadata.TargetsType]) {
				tf := *md.Signed.Targets[s.File.Path]
				md.Signed.Targets["skab-testbed/skab-testbed-2.0.1.tar.gz"] = &tf
			})
		}, "add 2 targets", ErrRefused},
		{"tampered archive", "2.0.0", func(t *testing.T, s *Signed, arch string) []byte {
			b, _ := os.ReadFile(arch)
			b[len(b)/2] ^= 1
			_ = os.WriteFile(arch, b, 0o600)
			return s.Targets
		}, "sha256", ErrRefused},
		{"truncated archive", "2.0.0", func(t *testing.T, s *Signed, arch string) []byte {
			_ = os.Truncate(arch, s.File.Length-1)
			return s.Targets
		}, "bytes, the targets metadata says", ErrRefused},
		{"longer archive", "2.0.0", func(t *testing.T, s *Signed, arch string) []byte {
			f, _ := os.OpenFile(arch, os.O_APPEND|os.O_WRONLY, 0)
			_, _ = f.Write([]byte("x"))
			_ = f.Close()
			return s.Targets
		}, "more than", ErrRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Versions()
			ts, _ := os.ReadFile(filepath.Join(srv.Dir(), "timestamp.json"))
			s, arch := signed(t, srv, offline, tc.version)
			defer os.Remove(arch)
			_, _, err := srv.Publish(tc.edit(t, s, arch), arch)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.want)
			}
			if got := srv.Versions(); !equalVersions(got, before) {
				t.Errorf("versions %v after a refused release, want %v", got, before)
			}
			if after, _ := os.ReadFile(filepath.Join(srv.Dir(), "timestamp.json")); !bytes.Equal(ts, after) {
				t.Error("timestamp.json changed")
			}
			if _, err := os.Stat(srv.targetFile(s.File)); !os.IsNotExist(err) {
				t.Errorf("the refused archive is in the repository: %v", err)
			}
		})
	}

	// The targets keys are needed to sign; the online keys do not do.
	if _, err := SignRelease(srv.root, srv.targets, keys, testBundle(t, "3.0.0"), nil, &bytes.Buffer{}, Options{}); !errors.Is(err, ErrKeys) {
		t.Errorf("SignRelease with the online keys: %v, want ErrKeys", err)
	}
	// A released path again.
	if _, err := SignRelease(srv.root, srv.targets, offline, testBundle(t, "1.0.0"), nil, &bytes.Buffer{}, Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("SignRelease of a released version: %v, want ErrExists", err)
	}
	// The offline keys next to the online ones are reported.
	all := mustOpen(t, srv.Dir(), offline, Options{})
	if got := all.OfflineKeys(); !slices.Equal(got, []string{"root", "targets"}) {
		t.Errorf("OfflineKeys = %v", got)
	}
}

func TestRefreshTimestamp(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r, keys := newRepo(t, Options{Now: func() time.Time { return now }})
	splitKeys(t, keys, "root", "targets")
	now = now.Add(13 * time.Hour)
	srv := mustOpen(t, r.Dir(), keys, Options{Now: func() time.Time { return now }})
	if err := srv.RefreshTimestamp(); err != nil {
		t.Fatal(err)
	}
	if v := srv.Versions(); v["timestamp"] != 2 || v["snapshot"] != 1 {
		t.Errorf("versions %v: want timestamp 2, snapshot 1", v)
	}
	if got, want := srv.Expires("timestamp"), now.Add(DefaultExpiry.Timestamp); !got.Equal(want) {
		t.Errorf("timestamp expires %s, want %s", got, want)
	}
	if got := srv.Expires("snapshot"); !got.Equal(now.Add(-13 * time.Hour).Add(DefaultExpiry.Snapshot)) {
		t.Errorf("snapshot expiry moved: %s", got)
	}
	again := mustOpen(t, r.Dir(), keys, Options{})
	if again.Versions()["timestamp"] != 2 {
		t.Error("the new timestamp is not on disk")
	}
}

// The release manager re-signs targets (a new expiry, no release), and
// rig-cloud publishes them without an archive.
func TestResignTargets(t *testing.T) {
	srv, keys, offline := onlineRepo(t)
	s, arch := signed(t, srv, offline, "1.0.0")
	mustPublish(t, srv, s, arch)
	// An archive without a new target, and a new target without its
	// archive, are refused.
	b, err := ResignTargets(srv.root, srv.targets, offline, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Publish(b, filepath.Join(srv.Dir(), "nothing")); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "add no target") {
		t.Errorf("archive without target: %v", err)
	}
	s2, arch2 := signed(t, srv, offline, "1.1.0")
	defer os.Remove(arch2)
	if _, _, err := srv.Publish(s2.Targets, ""); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "send its archive") {
		t.Errorf("target without archive: %v", err)
	}
	// The online keys cannot re-sign targets.
	if _, err := ResignTargets(srv.root, srv.targets, keys, Options{}); !errors.Is(err, ErrKeys) {
		t.Errorf("ResignTargets with the online keys: %v", err)
	}

	// Signed 100 days on: valid until day 190.
	later := time.Now().Add(100 * 24 * time.Hour)
	b, err = ResignTargets(srv.root, srv.targets, offline, Options{Now: func() time.Time { return later }})
	if err != nil {
		t.Fatal(err)
	}
	rel, tf, err := srv.Publish(b, "")
	if err != nil || rel != nil || tf != nil {
		t.Fatalf("Publish(re-signed targets) = %v, %v, %v", rel, tf, err)
	}
	if v := srv.Versions(); v["targets"] != 3 || v["snapshot"] != 3 {
		t.Errorf("versions %v", v)
	}
	// 150 days on the first targets would have expired; the re-signed
	// ones verify (with a re-signed snapshot and timestamp then).
	srvLater := mustOpen(t, srv.Dir(), keys, Options{Now: func() time.Time { return time.Now().Add(150 * 24 * time.Hour) }})
	if err := srvLater.Refresh(); err != nil {
		t.Fatal(err)
	}
	root, _ := srv.Root()
	u := client(t, serve(t, srv.Dir()), root)
	u.UnsafeSetRefTime(time.Now().Add(150 * 24 * time.Hour))
	if _, err := fetch(t, u, "skab-testbed/skab-testbed-1.0.0.tar.gz"); err != nil {
		t.Fatal(err)
	}
}

// A publication whose snapshot write fails after the targets were written
// leaves the snapshot behind (SnapshotStale); Refresh brings it level and
// clients see the release. (rig-cloud's releases check refreshes a stale
// snapshot.)
func TestPublishHalfwayHealed(t *testing.T) {
	srv, keys, offline := onlineRepo(t)
	root, err := srv.Root()
	if err != nil {
		t.Fatal(err)
	}
	s, arch := signed(t, srv, offline, "1.0.0")
	// The next snapshot file cannot be written: a folder has its name.
	next := srv.Versions()["snapshot"] + 1
	block := filepath.Join(srv.Dir(), fmt.Sprintf("%d.snapshot.json", next))
	if err := os.Mkdir(block, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Publish(s.Targets, arch); err == nil {
		t.Fatal("the publication succeeded with its snapshot unwritable")
	}
	again := mustOpen(t, srv.Dir(), keys, Options{})
	if !again.SnapshotStale() {
		t.Fatalf("versions %v: the snapshot is not reported behind the targets", again.Versions())
	}
	if err := os.Remove(block); err != nil {
		t.Fatal(err)
	}
	if err := again.Refresh(); err != nil {
		t.Fatal(err)
	}
	if again.SnapshotStale() {
		t.Fatalf("versions %v: still stale after Refresh", again.Versions())
	}
	got, err := fetch(t, client(t, serve(t, srv.Dir()), root), "skab-testbed/skab-testbed-1.0.0.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != "1.0.0" {
		t.Errorf("client got version %s", got.Version)
	}
}
