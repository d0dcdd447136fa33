package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/releases"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/tufrepo"
)

// testRepo is a TUF repository made by a key ceremony: the root and
// targets keys in offline, the snapshot and timestamp keys in online,
// served by svc.
type testRepo struct {
	dir, offline, online string
	root                 []byte
	svc                  *releases.Service
}

// newRepo initialises a repository whose metadata was signed at now and
// opens its Service on a throwaway database (the advisory lock's).
func newRepo(t testing.TB, o ...releases.Options) *testRepo {
	t.Helper()
	base := t.TempDir()
	tr := &testRepo{dir: filepath.Join(base, "repo"), online: filepath.Join(base, "online"), offline: filepath.Join(base, "offline")}
	var opt releases.Options
	if len(o) > 0 {
		opt = o[0]
	}
	r, err := tufrepo.Init(tr.dir, tr.online, tufrepo.Options{Now: opt.Now})
	require.NoError(t, err)
	tr.root, err = r.Root()
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(tr.offline, 0o700))
	for _, role := range []string{"root", "targets"} {
		pems, _ := filepath.Glob(filepath.Join(tr.online, role+"-*.pem"))
		for _, p := range pems {
			require.NoError(t, os.Rename(p, filepath.Join(tr.offline, filepath.Base(p))))
		}
	}
	pool, _ := dbtest.Pool(t)
	opt.RepoDir, opt.KeysDir = tr.dir, tr.online
	tr.svc, err = releases.New(pool, opt)
	require.NoError(t, err)
	return tr
}

// testBundle copies the shipped skab-testbed bundle with the given version.
func testBundle(t testing.TB, version string) string {
	t.Helper()
	src := filepath.Join("..", "..", "..", "models", "bundles", "skab-testbed")
	dst := t.TempDir()
	m, err := bundle.Load(src)
	require.NoError(t, err)
	onnx, err := filepath.Glob(filepath.Join(src, "*.onnx"))
	require.NoError(t, err)
	for _, f := range onnx {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644))
	}
	m.Version = version
	require.NoError(t, bundle.Write(dst, m))
	return dst
}

// bearer adds a credential to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// tufClient is go-tuf's updater on the server's /tuf/, trusting root and
// sending token.
func tufClient(t testing.TB, base, token string, root []byte) *updater.Updater {
	t.Helper()
	cfg, err := config.New(base+"/tuf", root)
	require.NoError(t, err)
	cfg.RemoteTargetsURL = base + "/tuf/targets"
	cfg.LocalMetadataDir = t.TempDir()
	cfg.LocalTargetsDir = t.TempDir()
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPClient(&http.Client{Transport: bearer{token, http.DefaultTransport}, Timeout: 30 * time.Second})
	cfg.Fetcher = f
	u, err := updater.New(cfg)
	require.NoError(t, err)
	return u
}

// sign is the release manager's side: verify the served repository with
// go-tuf, then sign the next targets with the keys in keys.
func sign(t testing.TB, base, token string, tr *testRepo, keys, version string) (*tufrepo.Signed, []byte) {
	t.Helper()
	return signDir(t, base, token, tr, keys, testBundle(t, version))
}

// signDir is sign of the bundle in dir.
func signDir(t testing.TB, base, token string, tr *testRepo, keys, dir string) (*tufrepo.Signed, []byte) {
	t.Helper()
	u := tufClient(t, base, token, tr.root)
	require.NoError(t, u.Refresh())
	tm := u.GetTrustedMetadataSet()
	var arch bytes.Buffer
	s, err := tufrepo.SignRelease(tm.Root, tm.Targets[metadata.TARGETS], keys, dir, nil, &arch, tufrepo.Options{})
	require.NoError(t, err)
	return s, arch.Bytes()
}

// releaseToken returns the token of a new release manager (of the
// platform: no organisation).
func (e *env) releaseToken() string {
	e.t.Helper()
	_, tok, err := e.st.CreateToken(context.Background(), 0, "release manager", store.RoleRelease, time.Time{})
	require.NoError(e.t, err)
	return tok
}

// publish signs the bundle in dir with tr's offline keys and publishes it
// with the release manager's token relTok; it returns the release's
// target path.
func (e *env) publish(tr *testRepo, relTok, dir string) string {
	e.t.Helper()
	s, arch := signDir(e.t, e.srv.URL, relTok, tr, tr.offline, dir)
	body, ctype := multipartBody(e.t, s.Targets, arch)
	r := e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(e.t, 201, r.code, "%s", r.body)
	return s.File.Path
}

// multipartBody is a publication's body: targets, then the archive.
func multipartBody(t testing.TB, targets, archive []byte) ([]byte, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile(httpapi.PartTargets, "targets.json")
	require.NoError(t, err)
	_, _ = w.Write(targets)
	w, err = mw.CreateFormFile(httpapi.PartArchive, "release.tar.gz")
	require.NoError(t, err)
	_, _ = w.Write(archive)
	require.NoError(t, mw.Close())
	return buf.Bytes(), mw.FormDataContentType()
}

func TestReleasesPublishServeResume(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	tn := e.tenant("acme")
	relTok := e.releaseToken()

	// Nothing released yet: the agent's updater verifies an empty repository.
	u := tufClient(t, e.srv.URL, tn.cred, tr.root)
	require.NoError(t, u.Refresh())
	require.Empty(t, u.GetTopLevelTargets())

	// The release manager signs with the targets key only and publishes.
	s, arch := sign(t, e.srv.URL, relTok, tr, tr.offline, "1.0.0")
	body, ctype := multipartBody(t, s.Targets, arch)
	r := e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(t, 201, r.code, "%s", r.body)
	var pub releases.Published
	r.decode(t, &pub)
	assert.Equal(t, s.File.Path, pub.Path)
	assert.Equal(t, int64(len(arch)), pub.Length)
	assert.Equal(t, map[string]int64{"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}, pub.Versions)
	assert.Equal(t, "1.0.0", pub.Release.Version)

	// The same again is 422 (version 2 is not the next); a new signature
	// over the same bundle version is 409 at signing already.
	r = e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(t, 422, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "the next is 3")

	// The agent's updater (its credential) verifies and downloads it.
	u = tufClient(t, e.srv.URL, tn.cred, tr.root)
	require.NoError(t, u.Refresh())
	tf, err := u.GetTargetInfo(s.File.Path)
	require.NoError(t, err)
	_, data, err := u.DownloadTarget(tf, filepath.Join(t.TempDir(), "a.tar.gz"), "")
	require.NoError(t, err)
	require.Equal(t, arch, data)

	// A ranged, resumed download: the first part, then the rest with
	// If-Range; the joined file verifies against the target metadata.
	targetURL := fmt.Sprintf("/tuf/targets/skab-testbed/%s.skab-testbed-1.0.0.tar.gz", pub.SHA256)
	full := e.raw("GET", targetURL, tn.cred, "", nil)
	require.Equal(t, 200, full.code)
	assert.Equal(t, fmt.Sprint(len(arch)), full.header.Get("Content-Length"))
	assert.Equal(t, "application/gzip", full.header.Get("Content-Type"))
	assert.Equal(t, "private, max-age=31536000, immutable", full.header.Get("Cache-Control"))
	assert.Equal(t, "bytes", full.header.Get("Accept-Ranges"))
	etag := full.header.Get("ETag")
	assert.Equal(t, `"`+pub.SHA256+`"`, etag)
	cut := len(arch) / 3
	first := e.raw("GET", targetURL, tn.cred, "", nil, "Range", fmt.Sprintf("bytes=0-%d", cut-1))
	require.Equal(t, 206, first.code)
	assert.Equal(t, fmt.Sprint(cut), first.header.Get("Content-Length"))
	assert.Equal(t, fmt.Sprintf("bytes 0-%d/%d", cut-1, len(arch)), first.header.Get("Content-Range"))
	rest := e.raw("GET", targetURL, tn.cred, "", nil, "Range", fmt.Sprintf("bytes=%d-", cut), "If-Range", etag)
	require.Equal(t, 206, rest.code)
	assert.Equal(t, fmt.Sprint(len(arch)-cut), rest.header.Get("Content-Length"))
	part := filepath.Join(t.TempDir(), "resumed.tar.gz")
	require.NoError(t, os.WriteFile(part, append(first.body, rest.body...), 0o644))
	got, _, err := u.FindCachedTarget(tf, part)
	require.NoError(t, err)
	assert.Equal(t, part, got, "the resumed file verifies against the signed length and hashes")
	// A stale If-Range gets the whole file; a range past the end is 416.
	r = e.raw("GET", targetURL, tn.cred, "", nil, "Range", fmt.Sprintf("bytes=%d-", cut), "If-Range", `"other"`)
	require.Equal(t, 200, r.code)
	r = e.raw("GET", targetURL, tn.cred, "", nil, "Range", fmt.Sprintf("bytes=%d-", len(arch)+10))
	require.Equal(t, 416, r.code)

	// Metadata caching: the timestamp is revalidated, versioned files not.
	r = e.raw("GET", "/tuf/timestamp.json", tn.cred, "", nil)
	require.Equal(t, 200, r.code)
	assert.Equal(t, "no-cache", r.header.Get("Cache-Control"))
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, fmt.Sprint(len(r.body)), r.header.Get("Content-Length"))
	for _, f := range []string{"1.root.json", "2.snapshot.json", "2.targets.json"} {
		r = e.raw("GET", "/tuf/"+f, tn.cred, "", nil)
		require.Equal(t, 200, r.code, f)
		assert.Equal(t, "private, max-age=31536000, immutable", r.header.Get("Cache-Control"), f)
	}
	// A conditional request on the timestamp is 304.
	r = e.raw("GET", "/tuf/timestamp.json", tn.cred, "", nil, "If-Modified-Since", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	require.Equal(t, 304, r.code)

	// Names outside the repository's files are 404, whatever the encoding.
	for _, p := range []string{"/tuf/root.json", "/tuf/snapshot.json", "/tuf/0.root.json", "/tuf/1.root.json.tmp", "/tuf/.tmp-1",
		"/tuf/targets/../1.root.json", "/tuf/targets/%2e%2e/1.root.json", "/tuf/targets/skab-testbed/../../1.root.json",
		"/tuf/targets/.incoming/archive-1", "/tuf/targets/skab-testbed//x.tar.gz", "/tuf/targets/", "/tuf/targets/skab-testbed",
		"/tuf/targets/skab-testbed/.release-1", "/tuf/targets/%2fetc%2fpasswd", "/tuf/targets/skab-testbed/nope.tar.gz"} {
		r = e.raw("GET", p, tn.cred, "", nil)
		assert.Equal(t, 404, r.code, "%s: %s", p, r.body)
	}

	// Who may read: agents, organisation tokens and release tokens; not
	// a system token, not without a credential.
	for _, tok := range []string{tn.viewer, tn.admin, relTok} {
		assert.Equal(t, 200, e.raw("GET", "/tuf/timestamp.json", tok, "", nil).code)
	}
	assert.Equal(t, 403, e.raw("GET", "/tuf/timestamp.json", e.system, "", nil).code)
	assert.Equal(t, 401, e.raw("GET", "/tuf/timestamp.json", "", "", nil).code)
	assert.Equal(t, 401, e.raw("GET", targetURL, "rga_nope", "", nil).code)
	// Who may publish: release tokens only; and they may do nothing else.
	for _, tok := range []string{tn.admin, tn.cred, e.system} {
		assert.Equal(t, 403, e.raw("POST", "/v1/releases", tok, ctype, body).code)
	}
	assert.Equal(t, 403, e.raw("GET", "/v1/rigs", relTok, "", nil).code)
	assert.Equal(t, 403, e.raw("GET", "/v1/orgs", relTok, "", nil).code)
	assert.Equal(t, 403, e.raw("POST", "/v1/orgs", relTok, "application/json", []byte(`{"slug":"x","name":"x"}`)).code)

	// Bad bodies.
	r = e.raw("POST", "/v1/releases", relTok, "application/json", []byte("{}"))
	assert.Equal(t, 415, r.code)
	b2, ct2 := multipartBody(t, nil, nil)
	b2 = bytes.Replace(b2, []byte(`name="targets"`), []byte(`name="other"`), 1)
	r = e.raw("POST", "/v1/releases", relTok, ct2, b2)
	assert.Equal(t, 400, r.code)
	assert.Contains(t, r.problem(t).Detail, `the first part must be "targets"`)

	// The metrics count the publication.
	m := e.raw("GET", "/metrics", "", "", nil)
	assert.Contains(t, string(m.body), "rig_cloud_tuf_releases_published_total 1")
	assert.Contains(t, string(m.body), `rig_cloud_tuf_resigned_total{reason="release",role="timestamp"} 1`)
	assert.Contains(t, string(m.body), `rig_cloud_tuf_expires_timestamp_seconds{role="timestamp"}`)
}

// The online keys alone cannot introduce a model: targets metadata signed
// with the snapshot and timestamp keys, offered with its archive, is
// refused, nothing changes, and agents see no new target.
func TestReleasesOnlineKeysCannotPublish(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	tn := e.tenant("acme")
	relTok := e.releaseToken()

	// An attacker with the server's keys folder: it lacks the targets key.
	u := tufClient(t, e.srv.URL, relTok, tr.root)
	require.NoError(t, u.Refresh())
	tm := u.GetTrustedMetadataSet()
	var arch bytes.Buffer
	_, err := tufrepo.SignRelease(tm.Root, tm.Targets[metadata.TARGETS], tr.online, testBundle(t, "6.6.6"), nil, &arch, tufrepo.Options{})
	require.ErrorIs(t, err, tufrepo.ErrKeys)

	// So it signs the next targets with the snapshot key, pretending to
	// itself that the root lists it for targets.
	b, err := tm.Root.ToBytes(false)
	require.NoError(t, err)
	fakeRoot, err := metadata.Root().FromBytes(b)
	require.NoError(t, err)
	fakeRoot.Signed.Roles[metadata.TARGETS] = fakeRoot.Signed.Roles[metadata.SNAPSHOT]
	arch.Reset()
	f, err := tufrepo.SignRelease(fakeRoot, tm.Targets[metadata.TARGETS], tr.online, testBundle(t, "6.6.6"), nil, &arch, tufrepo.Options{})
	require.NoError(t, err)
	forged, archive := f.Targets, arch.Bytes()
	before, err := os.ReadFile(filepath.Join(tr.dir, "timestamp.json"))
	require.NoError(t, err)

	body, ctype := multipartBody(t, forged, archive)
	r := e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(t, 422, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemReleaseRefused, p.Type)
	assert.Contains(t, p.Detail, "not signed by the targets keys of root version 1")

	after, err := os.ReadFile(filepath.Join(tr.dir, "timestamp.json"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing was re-signed")
	left, _ := filepath.Glob(filepath.Join(tr.dir, "targets", "skab-testbed", "*"))
	assert.Empty(t, left, "no archive was stored")
	staged, _ := filepath.Glob(filepath.Join(tr.dir, ".incoming", "*"))
	assert.Empty(t, staged, "the staged archive was removed")
	u = tufClient(t, e.srv.URL, tn.cred, tr.root)
	require.NoError(t, u.Refresh())
	assert.Empty(t, u.GetTopLevelTargets())

	// A tampered archive under correctly signed targets is refused too.
	s, archive := sign(t, e.srv.URL, relTok, tr, tr.offline, "6.6.7")
	archive[len(archive)/2] ^= 0xff
	body, ctype = multipartBody(t, s.Targets, archive)
	r = e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(t, 422, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "sha256")
}

// Every replica checks; exactly one re-signs what is due, under the
// advisory lock, and agents accept the result.
func TestReleasesResignReplicas(t *testing.T) {
	// Signed 23 hours ago: the timestamp has an hour left (< 12h refresh),
	// the snapshot six days (> 72h).
	past := time.Now().Add(-23 * time.Hour)
	tr := newRepo(t, releases.Options{Now: func() time.Time { return past }})
	pool, _ := dbtest.Pool(t)
	var svcs []*releases.Service
	for range 3 {
		s, err := releases.New(pool, releases.Options{RepoDir: tr.dir, KeysDir: tr.online})
		require.NoError(t, err)
		svcs = append(svcs, s)
	}
	var wg sync.WaitGroup
	done := make([][]string, len(svcs))
	for i, s := range svcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			done[i], err = s.Check(context.Background())
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	var n int
	for _, d := range done {
		if len(d) > 0 {
			assert.Equal(t, []string{"timestamp"}, d)
			n++
		}
	}
	assert.Equal(t, 1, n, "one replica re-signs: %v", done)
	r, err := tufrepo.Open(tr.dir, tr.online, tufrepo.Options{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), r.Versions()["timestamp"])
	assert.Equal(t, int64(1), r.Versions()["snapshot"])
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), r.Expires("timestamp"), time.Minute)

	// Nothing is due now; a stale staged archive is removed, a fresh one
	// (a publication in progress) is not.
	require.NoError(t, os.MkdirAll(filepath.Join(tr.dir, ".incoming"), 0o755))
	stale, fresh := filepath.Join(tr.dir, ".incoming", "archive-1"), filepath.Join(tr.dir, ".incoming", "archive-2")
	require.NoError(t, os.WriteFile(stale, []byte("x"), 0o600))
	require.NoError(t, os.WriteFile(fresh, []byte("x"), 0o600))
	require.NoError(t, os.Chtimes(stale, time.Now().Add(-26*time.Hour), time.Now().Add(-26*time.Hour)))
	d, err := svcs[0].Check(context.Background())
	require.NoError(t, err)
	assert.Empty(t, d)
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh)

	// Five days on, the snapshot is due: both roles are re-signed.
	later := releases.Options{RepoDir: tr.dir, KeysDir: tr.online, Now: func() time.Time { return time.Now().Add(5 * 24 * time.Hour) }}
	s, err := releases.New(pool, later)
	require.NoError(t, err)
	d, err = s.Check(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []string{"snapshot", "timestamp"}, d)

	// An agent accepts the re-signed repository.
	e := newEnv(t, httpapi.Options{Releases: svcs[0]})
	tn := e.tenant("acme")
	u := tufClient(t, e.srv.URL, tn.cred, tr.root)
	u.UnsafeSetRefTime(time.Now().Add(5 * 24 * time.Hour))
	require.NoError(t, u.Refresh())
}

// A keys folder holding the targets key next to the online ones is
// refused: the server must not be able to sign targets.
func TestReleasesRefuseOfflineKeys(t *testing.T) {
	tr := newRepo(t)
	pems, _ := filepath.Glob(filepath.Join(tr.offline, "targets-*.pem"))
	require.Len(t, pems, 1)
	b, err := os.ReadFile(pems[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tr.online, filepath.Base(pems[0])), b, 0o600))
	pool, _ := dbtest.Pool(t)
	_, err = releases.New(pool, releases.Options{RepoDir: tr.dir, KeysDir: tr.online})
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "holds targets keys"), err.Error())

	// Without the section, the routes answer 503.
	e := newEnv(t, httpapi.Options{})
	tn := e.tenant("acme")
	r := e.raw("GET", "/tuf/timestamp.json", tn.cred, "", nil)
	require.Equal(t, 503, r.code)
}

// An archive above releases.max_archive_bytes is 413; a released version
// offered again with other bytes is 422; neither leaves a file behind.
func TestReleasesPublishLimits(t *testing.T) {
	// Half of the test bundle's archive (about 64 KiB: the shipped
	// skab-testbed, gzip-compressed).
	const maxArchive = 32 << 10
	tr := newRepo(t, releases.Options{MaxArchiveBytes: maxArchive})
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	relTok := e.releaseToken()

	s, arch := sign(t, e.srv.URL, relTok, tr, tr.offline, "1.0.0")
	require.Greater(t, len(arch), maxArchive, "the test bundle's archive is larger than the cap")
	body, ctype := multipartBody(t, s.Targets, arch)
	r := e.raw("POST", "/v1/releases", relTok, ctype, body)
	require.Equal(t, 413, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "releases.max_archive_bytes")
	staged, _ := filepath.Glob(filepath.Join(tr.dir, ".incoming", "*"))
	assert.Empty(t, staged)

	// A released version offered again with other bytes: the release
	// manager edits the released entry and re-signs the targets.
	tr2 := newRepo(t)
	e2 := newEnv(t, httpapi.Options{Releases: tr2.svc})
	relTok2 := e2.releaseToken()
	s, arch = sign(t, e2.srv.URL, relTok2, tr2, tr2.offline, "1.0.0")
	body, ctype = multipartBody(t, s.Targets, arch)
	require.Equal(t, 201, e2.raw("POST", "/v1/releases", relTok2, ctype, body).code)
	u := tufClient(t, e2.srv.URL, relTok2, tr2.root)
	require.NoError(t, u.Refresh())
	tm := u.GetTrustedMetadataSet()
	cur := tm.Targets[metadata.TARGETS]
	arch[len(arch)/2] ^= 1
	sum := sha256.Sum256(arch)
	cur.Signed.Targets[s.File.Path].Hashes["sha256"] = sum[:]
	changed, err := tufrepo.ResignTargets(tm.Root, cur, tr2.offline, tufrepo.Options{})
	require.NoError(t, err)
	body, ctype = multipartBody(t, changed, arch)
	r = e2.raw("POST", "/v1/releases", relTok2, ctype, body)
	require.Equal(t, 422, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "is released and changed in the new targets")
}

// The release manager re-signs the targets before they expire, without a
// release: the targets part alone.
func TestReleasesResignTargets(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	relTok := e.releaseToken()
	u := tufClient(t, e.srv.URL, relTok, tr.root)
	require.NoError(t, u.Refresh())
	tm := u.GetTrustedMetadataSet()
	b, err := tufrepo.ResignTargets(tm.Root, tm.Targets[metadata.TARGETS], tr.offline, tufrepo.Options{Expiry: tufrepo.Expiry{Targets: 120 * 24 * time.Hour}})
	require.NoError(t, err)

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile(httpapi.PartTargets, "targets.json")
	require.NoError(t, err)
	_, _ = w.Write(b)
	require.NoError(t, mw.Close())
	r := e.raw("POST", "/v1/releases", relTok, mw.FormDataContentType(), buf.Bytes())
	require.Equal(t, 201, r.code, "%s", r.body)
	var pub releases.Published
	r.decode(t, &pub)
	assert.Empty(t, pub.Path)
	assert.Equal(t, map[string]int64{"root": 1, "targets": 2, "snapshot": 2, "timestamp": 2}, pub.Versions)

	// Agents see the new expiry: 100 days on, the targets still verify.
	tn := e.tenant("acme")
	u = tufClient(t, e.srv.URL, tn.cred, tr.root)
	require.NoError(t, u.Refresh())
	assert.WithinDuration(t, time.Now().Add(120*24*time.Hour), u.GetTrustedMetadataSet().Targets[metadata.TARGETS].Signed.Expires, time.Minute)
}
