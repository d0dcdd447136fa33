package update

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

const testRig = "skab-testbed"

// testConfigDigest is the skab-testbed firmware config's digest, as its
// shipped bundle names it.
var testConfigDigest string

// testBundle copies the shipped skab-testbed bundle with version and
// edit applied to its manifest.
func testBundle(t testing.TB, version string, edit func(*bundle.Manifest)) string {
	t.Helper()
	src := filepath.Join("..", "..", "..", "models", "bundles", testRig)
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".onnx") {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	m, err := bundle.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	testConfigDigest = m.ConfigDigest
	m.Version = version
	if edit != nil {
		edit(m)
	}
	if err := bundle.Write(dst, m); err != nil {
		t.Fatal(err)
	}
	return dst
}

// fixture is a TUF repository written by shared/tufrepo, served over
// HTTP, and an agent's update folder with a factory bundle.
type fixture struct {
	t       testing.TB
	repo    *tufrepo.Repo
	keys    string
	root    []byte // root 1, the agent's trust anchor
	srv     *httptest.Server
	factory string
	dir     string

	mu       sync.Mutex
	requests []string // "GET path range"
	// intercept, when set, serves archive requests instead of the folder.
	intercept func(w http.ResponseWriter, r *http.Request, file string) bool
	// token, when set, is the bearer credential every request must carry
	// (401 otherwise), as rig-cloud's /tuf wants.
	token string
	// unauthorized counts the requests refused for want of it.
	unauthorized int
	// down, when set, answers every request 503, as a proxy in front of
	// a rig-cloud that is down does.
	down bool
}

func newFixture(t testing.TB, factoryVersion string) *fixture {
	t.Helper()
	base := t.TempDir()
	r, err := tufrepo.Init(filepath.Join(base, "repo"), filepath.Join(base, "keys"), tufrepo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, err := r.Root()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, repo: r, keys: filepath.Join(base, "keys"), root: root,
		factory: testBundle(t, factoryVersion, nil), dir: filepath.Join(base, "agent", "update")}
	files := http.FileServer(http.Dir(r.Dir()))
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		f.mu.Lock()
		f.requests = append(f.requests, strings.TrimSpace(req.URL.Path+" "+req.Header.Get("Range")))
		icpt := f.intercept
		if f.down {
			f.mu.Unlock()
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if f.token != "" && req.Header.Get("Authorization") != "Bearer "+f.token {
			f.unauthorized++
			f.mu.Unlock()
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		f.mu.Unlock()
		if icpt != nil && strings.HasPrefix(req.URL.Path, "/targets/") {
			if icpt(w, req, filepath.Join(r.Dir(), filepath.FromSlash(req.URL.Path))) {
				return
			}
		}
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// release publishes a bundle of version (edit applied to its manifest)
// for hardware (nil: amd64, arm64) and returns its target path.
func (f *fixture) release(version string, hardware []string, edit func(*bundle.Manifest)) string {
	f.t.Helper()
	rel, _, err := f.repo.AddBundle(testBundle(f.t, version, edit), hardware)
	if err != nil {
		f.t.Fatal(err)
	}
	return rel.Path()
}

// archive returns the served file of a target path.
func (f *fixture) archive(path string) string {
	f.t.Helper()
	dir, name := filepath.Split(filepath.FromSlash(path))
	m, _ := filepath.Glob(filepath.Join(f.repo.Dir(), "targets", dir, "*."+name))
	if len(m) != 1 {
		f.t.Fatalf("archives of %s: %v", path, m)
	}
	return m[0]
}

func (f *fixture) archiveRequests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if strings.HasPrefix(r, "/targets/") {
			out = append(out, r)
		}
	}
	return out
}

type fakeCanary struct {
	mu    sync.Mutex
	err   error
	calls int
	// onCheck, when set, runs at the start of every Check.
	onCheck func()
}

func (c *fakeCanary) Check(_ context.Context, staged, current string) error {
	c.mu.Lock()
	hook := c.onCheck
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if staged == current {
		return fmt.Errorf("%w: staged is the current bundle", ErrCanary)
	}
	if _, err := bundle.Load(staged); err != nil {
		return fmt.Errorf("%w: %w", ErrCanary, err)
	}
	return c.err
}

func (c *fakeCanary) set(err error) {
	c.mu.Lock()
	c.err = err
	c.mu.Unlock()
}

type fakeActivator struct {
	mu   sync.Mutex
	dirs []string
	fail map[string]error
}

func (a *fakeActivator) Activate(_ context.Context, dir string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.dirs = append(a.dirs, dir)
	return a.fail[dir]
}

type agent struct {
	*Manager
	canary *fakeCanary
	act    *fakeActivator
	clock  *agenttest.Clock
	mu     sync.Mutex
	trans  []string
}

func (a *agent) transitions() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.trans...)
}

// open opens a Manager on the fixture (again after a simulated crash:
// same folder); edit adjusts the options.
func (f *fixture) open(edit func(*Options)) *agent {
	f.t.Helper()
	a := &agent{canary: &fakeCanary{}, act: &fakeActivator{}, clock: agenttest.NewClock(time.Now())}
	o := Options{
		Dir: f.dir, URL: f.srv.URL, TrustedRoot: f.root, InstalledDir: f.factory,
		RigType: testRig, ConfigDigest: testConfigDigest, Hardware: []string{"amd64"}, AgentVersion: "1.0.0",
		Canary: a.canary, Activator: a.act, Now: a.clock.Now, Logger: slog.New(slog.DiscardHandler),
		Reporter: ReporterFunc(func(tr Transition) {
			a.mu.Lock()
			defer a.mu.Unlock()
			s := string(tr.From) + ">" + string(tr.To)
			if tr.Err != nil {
				s += "!"
			}
			a.trans = append(a.trans, s)
		}),
	}
	if edit != nil {
		edit(&o)
	}
	m, err := Open(o)
	if err != nil {
		f.t.Fatal(err)
	}
	a.Manager = m
	return a
}

// readKeys returns the private keys of role in the keys folder.
func (f *fixture) readKeys(role string) []ed25519.PrivateKey {
	f.t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.keys, role+"-*.pem"))
	var ks []ed25519.PrivateKey
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		blk, _ := pem.Decode(b)
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			f.t.Fatal(err)
		}
		ks = append(ks, k.(ed25519.PrivateKey))
	}
	if len(ks) == 0 {
		f.t.Fatalf("no %s keys in %s", role, f.keys)
	}
	return ks
}

func sign[T metadata.Roles](t testing.TB, md *metadata.Metadata[T], keys []ed25519.PrivateKey) {
	t.Helper()
	md.ClearSignatures()
	for _, k := range keys {
		s, err := signature.LoadSigner(k, crypto.Hash(0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := md.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
}

func writeMeta(t testing.TB, dir, role string, version int64, b []byte) {
	t.Helper()
	for _, name := range []string{fmt.Sprintf("%d.%s.json", version, role), role + ".json"} {
		if role == metadata.TIMESTAMP && name != "timestamp.json" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// forge writes new targets metadata (edit applied, signed by signers) and
// a snapshot and timestamp over it signed by the real online keys, as an
// attacker holding rig-cloud's keys could.
func (f *fixture) forge(signers []ed25519.PrivateKey, edit func(*metadata.TargetsType)) {
	t, dir := f.t, f.repo.Dir()
	t.Helper()
	tg, err := metadata.Targets().FromFile(filepath.Join(dir, "targets.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit(&tg.Signed)
	tg.Signed.Version++
	sign(t, tg, signers)
	b, err := tg.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	writeMeta(t, dir, metadata.TARGETS, tg.Signed.Version, b)

	sn, err := metadata.Snapshot().FromFile(filepath.Join(dir, "snapshot.json"))
	if err != nil {
		t.Fatal(err)
	}
	sn.Signed.Meta["targets.json"] = metadata.MetaFile(tg.Signed.Version)
	sn.Signed.Version++
	sn.Signed.Expires = time.Now().Add(24 * time.Hour)
	sign(t, sn, f.readKeys(metadata.SNAPSHOT))
	sb, err := sn.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	writeMeta(t, dir, metadata.SNAPSHOT, sn.Signed.Version, sb)

	ts, err := metadata.Timestamp().FromFile(filepath.Join(dir, "timestamp.json"))
	if err != nil {
		t.Fatal(err)
	}
	mf := metadata.MetaFile(sn.Signed.Version)
	mf.Length = int64(len(sb))
	sum := sha256.Sum256(sb)
	mf.Hashes["sha256"] = sum[:]
	ts.Signed.Meta["snapshot.json"] = mf
	ts.Signed.Version++
	ts.Signed.Expires = time.Now().Add(12 * time.Hour)
	sign(t, ts, f.readKeys(metadata.TIMESTAMP))
	tb, err := ts.ToBytes(true)
	if err != nil {
		t.Fatal(err)
	}
	writeMeta(t, dir, metadata.TIMESTAMP, ts.Signed.Version, tb)
}

// skabCanary is what a model canary test runs on: the skab-testbed
// firmware config, its shipped bundle's folder and inference options that
// log nothing. The test is skipped without ONNX Runtime (fails under
// HYDROGNN_REQUIRE_SERVICES=1: shared/testenv).
func skabCanary(t *testing.T) (*rig.Config, string, infer.Options) {
	t.Helper()
	testenv.Env(t, infer.LibraryEnv, testenv.ONNXRuntime)
	root := filepath.Join("..", "..", "..")
	cfg, err := rig.Load(filepath.Join(root, "firmware-configs", "skab-testbed.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, filepath.Join(root, "models", "bundles", "skab-testbed"), infer.Options{Logger: slog.New(slog.DiscardHandler)}
}
