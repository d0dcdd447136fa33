package tufrepo

import (
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/release"
)

// testBundle copies the shipped skab-testbed bundle to a temporary folder
// with the given version.
func testBundle(t testing.TB, version string) string {
	t.Helper()
	src := filepath.Join("..", "..", "models", "bundles", "skab-testbed")
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".onnx") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := bundle.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	m.Version = version
	if err := bundle.Write(dst, m); err != nil {
		t.Fatal(err)
	}
	return dst
}

// newRepo initialises a repository in temporary folders.
func newRepo(t testing.TB, opt Options) (*Repo, string) {
	t.Helper()
	base := t.TempDir()
	r, err := Init(filepath.Join(base, "repo"), filepath.Join(base, "keys"), opt)
	if err != nil {
		t.Fatal(err)
	}
	return r, filepath.Join(base, "keys")
}

// serve publishes the repository folder over HTTP.
func serve(t testing.TB, dir string) string {
	t.Helper()
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// client is a go-tuf updater trusting root, with its own cache.
func client(t testing.TB, url string, root []byte) *updater.Updater {
	t.Helper()
	cfg, err := config.New(url, root)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(t.TempDir(), "metadata")
	cfg.LocalTargetsDir = filepath.Join(t.TempDir(), "targets")
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// fetch refreshes a client and downloads path, returning its custom
// metadata.
func fetch(t testing.TB, u *updater.Updater, path string) (*release.Target, error) {
	t.Helper()
	if err := u.Refresh(); err != nil {
		return nil, err
	}
	tf, err := u.GetTargetInfo(path)
	if err != nil {
		return nil, err
	}
	if _, _, err := u.DownloadTarget(tf, "", ""); err != nil {
		return nil, err
	}
	return release.FromTargetFile(tf)
}

func TestInitReleaseVerify(t *testing.T) {
	r, keys := newRepo(t, Options{RootThreshold: 2, RootKeys: 3})
	for _, f := range []string{"1.root.json", "root.json", "1.targets.json", "targets.json", "1.snapshot.json", "snapshot.json", "timestamp.json"} {
		if _, err := os.Stat(filepath.Join(r.Dir(), f)); err != nil {
			t.Error(err)
		}
	}
	st, err := os.Stat(keys)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("keys folder: %v %v", st.Mode(), err)
	}
	pems, _ := filepath.Glob(filepath.Join(keys, "*.pem"))
	if len(pems) != 6 {
		t.Errorf("%d key files, want 3 root + 3", len(pems))
	}
	for _, p := range pems {
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", p, st.Mode())
		}
	}
	if found, _ := filepath.Glob(filepath.Join(r.Dir(), "*.pem")); len(found) > 0 {
		t.Errorf("keys in the repository: %v", found)
	}

	// A second process opens the repository with only the online and
	// targets keys (root offline).
	online := t.TempDir()
	for _, p := range pems {
		if !strings.HasPrefix(filepath.Base(p), "root-") {
			b, _ := os.ReadFile(p)
			if err := os.WriteFile(filepath.Join(online, filepath.Base(p)), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	r2 := mustOpen(t, r.Dir(), online, Options{})
	rel, tf, err := r2.AddBundle(testBundle(t, "1.0.0"), []string{"arm64", "jetson-orin"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.Versions(); got["targets"] != 2 || got["snapshot"] != 2 || got["timestamp"] != 2 || got["root"] != 1 {
		t.Errorf("versions %v", got)
	}
	if _, _, err := r2.AddBundle(testBundle(t, "1.0.0"), nil); !errors.Is(err, ErrExists) {
		t.Errorf("same version again: %v", err)
	}

	root, err := r.Root()
	if err != nil {
		t.Fatal(err)
	}
	got, err := fetch(t, client(t, serve(t, r.Dir()), root), tf.Path)
	if err != nil {
		t.Fatal(err)
	}
	if got.RigType != "skab-testbed" || got.Version != "1.0.0" || got.Hardware[1] != "jetson-orin" || got.ManifestDigest != rel.ManifestDigest {
		t.Errorf("verified custom metadata %+v", got)
	}
}

func TestKeysNotInRepo(t *testing.T) {
	base := t.TempDir()
	for _, keys := range []string{filepath.Join(base, "repo", "keys"), filepath.Join(base, "repo")} {
		if _, err := Init(filepath.Join(base, "repo"), keys, Options{}); !errors.Is(err, ErrKeys) {
			t.Errorf("keys %s: %v", keys, err)
		}
	}
	if _, err := Init(filepath.Join(base, "r"), filepath.Join(base, "k"), Options{RootThreshold: 3, RootKeys: 2}); err == nil {
		t.Error("threshold above the number of keys accepted")
	}
	r, keys := newRepo(t, Options{})
	if _, err := Init(r.Dir(), keys+"2", Options{}); !errors.Is(err, ErrExists) {
		t.Errorf("init over a repository: %v", err)
	}
}

func TestTamperedTargetRefused(t *testing.T) {
	r, _ := newRepo(t, Options{})
	_, tf, err := r.AddBundle(testBundle(t, "1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(r.Dir(), "targets", "skab-testbed", "*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("archives %v", files)
	}
	b, _ := os.ReadFile(files[0])
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := r.Root()
	_, err = fetch(t, client(t, serve(t, r.Dir()), root), tf.Path)
	var lh *metadata.ErrLengthOrHashMismatch
	if !errors.As(err, &lh) {
		t.Errorf("tampered archive: %v (%T)", err, err)
	}
}

func TestExpiredTimestampRefused(t *testing.T) {
	// Signed two days ago with a one-day timestamp.
	past := func() time.Time { return time.Now().Add(-48 * time.Hour) }
	r, _ := newRepo(t, Options{Now: past, Expiry: Expiry{Timestamp: 24 * time.Hour}})
	_, tf, err := r.AddBundle(testBundle(t, "1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := r.Root()
	_, err = fetch(t, client(t, serve(t, r.Dir()), root), tf.Path)
	var exp *metadata.ErrExpiredMetadata
	if !errors.As(err, &exp) || !strings.Contains(err.Error(), "timestamp") {
		t.Errorf("expired timestamp: %v (%T)", err, err)
	}
	// Re-signing the online roles with a good clock makes it valid again.
	r.opt.Now = nil
	if err := r.Refresh(); err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(t, client(t, serve(t, r.Dir()), root), tf.Path); err != nil {
		t.Error(err)
	}
}

func TestRootRotationFollowed(t *testing.T) {
	r, keys := newRepo(t, Options{})
	_, tf1, err := r.AddBundle(testBundle(t, "1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root1, _ := r.Root()
	url := serve(t, r.Dir())
	if _, err := fetch(t, client(t, url, root1), tf1.Path); err != nil {
		t.Fatal(err)
	}
	oldRoot, _ := filepath.Glob(filepath.Join(keys, "root-*.pem"))

	// Root 1 -> 2 with two keys, threshold 2; then targets 2 -> 3.
	if err := r.Rotate("root", 2, 2); err != nil {
		t.Fatal(err)
	}
	if err := r.Rotate("targets", 0, 0); err != nil {
		t.Fatal(err)
	}
	if got := r.Versions()["root"]; got != 3 {
		t.Errorf("root version %d, want 3", got)
	}
	retired, _ := filepath.Glob(filepath.Join(keys, "retired", "*.pem"))
	if len(retired) != 2 || filepath.Base(retired[0]) != filepath.Base(oldRoot[0]) && filepath.Base(retired[1]) != filepath.Base(oldRoot[0]) {
		t.Errorf("retired keys %v, old root key %v", retired, oldRoot)
	}
	_, tf2, err := r.AddBundle(testBundle(t, "1.1.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A client that only ever trusted root 1 follows to root 3 and
	// verifies the release signed by the new targets key.
	u := client(t, url, root1)
	if _, err := fetch(t, u, tf2.Path); err != nil {
		t.Fatal(err)
	}
	trusted := u.GetTrustedMetadataSet()
	if v := trusted.Root.Signed.Version; v != 3 {
		t.Errorf("client root version %d, want 3", v)
	}
	if n := len(trusted.Root.Signed.Roles["root"].KeyIDs); n != 2 {
		t.Errorf("client root has %d root keys, want 2", n)
	}

	// A root 4 signed by only one of root 3's two keys (threshold 2) is
	// refused.
	b, _ := r.root.ToBytes(false)
	next, _ := metadata.Root().FromBytes(b)
	next.Signed.Version++
	next.ClearSignatures()
	for id, k := range r.keys {
		if id == r.root.Signed.Roles["root"].KeyIDs[0] {
			if err := signWith(next, k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := next.ToFile(filepath.Join(r.Dir(), "4.root.json"), true); err != nil {
		t.Fatal(err)
	}
	err = client(t, url, root1).Refresh()
	var unsigned *metadata.ErrUnsignedMetadata
	if !errors.As(err, &unsigned) {
		t.Errorf("root below threshold: %v (%T)", err, err)
	}
}

func TestOnlineKeysCannotAddTarget(t *testing.T) {
	r, _ := newRepo(t, Options{})
	_, tf, err := r.AddBundle(testBundle(t, "1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := r.Root()
	url := serve(t, r.Dir())

	// An attacker holding the snapshot and timestamp keys (rig-cloud's)
	// writes targets listing a new archive, signs it with those keys, and
	// publishes a consistent snapshot and timestamp over it.
	evil := testBundle(t, "9.0.0")
	online := &Repo{dir: r.dir, keysDir: t.TempDir(), opt: r.opt, root: r.root, targets: r.targets,
		snapshot: r.snapshot, timestamp: r.timestamp, keys: map[string]ed25519.PrivateKey{}}
	for _, role := range []string{"snapshot", "timestamp"} {
		id := r.root.Signed.Roles[role].KeyIDs[0]
		online.keys[id] = r.keys[id]
	}
	if _, _, err := online.AddBundle(evil, nil); !errors.Is(err, ErrKeys) {
		t.Fatalf("AddBundle without the targets key: %v", err)
	}
	rel, err := release.FromManifest(mustLoad(t, evil), nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := metadata.TargetFile()
	forged.Path = rel.Path()
	forged.Length = tf.Length
	forged.Hashes = tf.Hashes
	if err := rel.Apply(forged); err != nil {
		t.Fatal(err)
	}
	online.targets.Signed.Targets[forged.Path] = forged
	online.targets.Signed.Version++
	online.targets.ClearSignatures()
	for _, k := range online.keys {
		if err := signWith(online.targets, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := online.writeTargets(); err != nil {
		t.Fatal(err)
	}
	if err := online.signSnapshotTimestamp(true); err != nil {
		t.Fatal(err)
	}
	_, err = fetch(t, client(t, url, root), forged.Path)
	var unsigned *metadata.ErrUnsignedMetadata
	if !errors.As(err, &unsigned) || !strings.Contains(err.Error(), "targets") {
		t.Errorf("targets signed by online keys: %v (%T)", err, err)
	}
}

func mustLoad(t testing.TB, dir string) *bundle.Manifest {
	t.Helper()
	m, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mustOpen opens the repository in dir with the keys in keysDir.
func mustOpen(t testing.TB, dir, keysDir string, opt Options) *Repo {
	t.Helper()
	r, err := Open(dir, keysDir, opt)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
