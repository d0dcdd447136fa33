package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// accessServer is a Server with a detector, whose Options mod changes.
func accessServer(t *testing.T, det Detector, mod func(*Options)) *Server {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	o := Options{
		AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "skab-testbed", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "skab-testbed", Version: "1.0.0"},
		Ingest:   stats[ingest.Stats]{}, Buffer: stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
		History: h, Logger: quiet, Detector: det,
	}
	if mod != nil {
		mod(&o)
	}
	srv, err := New(o)
	require.NoError(t, err)
	return srv
}

// do serves one request from client (ip:port) with Host host.
func do(srv *Server, method, host, client, path, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://"+host+path, strings.NewReader("{}"))
	req.Host, req.RemoteAddr = host, client
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	return rec
}

// On a loopback address the API answers only Host headers naming
// localhost, a loopback address, the listen host or api.allowed_hosts:
// a DNS-rebinding page (its own name resolving to 127.0.0.1) is refused
// on every route (review r1 finding 4).
func TestAPIHostCheck(t *testing.T) {
	srv := accessServer(t, nil, func(o *Options) { o.Listen = "127.0.0.1:8080"; o.AllowedHosts = []string{"Rig-1.local"} })
	for _, host := range []string{"localhost:8080", "127.0.0.1:8080", "127.0.0.1", "[::1]:8080", "LOCALHOST.:8080", "rig-1.local:8080", "rig-1.local"} {
		assert.Equal(t, http.StatusOK, do(srv, "GET", host, "127.0.0.1:5000", "/status", "").Code, host)
	}
	for _, path := range []string{"/status", "/diagnoses", "/diagnoses/latest", "/bundle", "/metrics", "/health/live"} {
		rec := do(srv, "GET", "attacker.example:8080", "127.0.0.1:5000", path, "")
		assert.Equal(t, http.StatusForbidden, rec.Code, path)
		assert.Contains(t, rec.Body.String(), `Host \"attacker.example:8080\" is not this agent's API`, path)
	}
	assert.Equal(t, http.StatusForbidden, do(srv, "GET", "", "127.0.0.1:5000", "/status", "").Code, "no Host")
	det := &fakeDetector{}
	srv = accessServer(t, det, func(o *Options) { o.Listen = "localhost:8080" })
	assert.Equal(t, http.StatusForbidden, do(srv, "POST", "attacker.example", "127.0.0.1:5000", "/detector/recalibrate", "").Code)
	assert.Zero(t, det.calls)
	assert.Contains(t, do(srv, "GET", "localhost", "127.0.0.1:5000", "/metrics", "").Body.String(),
		`rig_agent_api_requests_refused_total{reason="host"} 1`)

	// Bound beyond loopback without allowed_hosts, any name reaches it
	// (the token guards it); with allowed_hosts, only those.
	srv = accessServer(t, nil, func(o *Options) { o.Listen = "0.0.0.0:8080" })
	assert.Equal(t, http.StatusOK, do(srv, "GET", "192.168.1.20:8080", "192.168.1.9:5000", "/status", "").Code)
	srv = accessServer(t, nil, func(o *Options) { o.Listen = "0.0.0.0:8080"; o.AllowedHosts = []string{"192.168.1.20"} })
	assert.Equal(t, http.StatusOK, do(srv, "GET", "192.168.1.20:8080", "192.168.1.9:5000", "/status", "").Code)
	assert.Equal(t, http.StatusForbidden, do(srv, "GET", "other.example", "192.168.1.9:5000", "/status", "").Code)
}

// With a token every route but the two health probes needs
// Authorization: Bearer TOKEN; a missing or wrong token is 401 and
// changes nothing.
func TestAPIBearerToken(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	det := &fakeDetector{}
	srv := accessServer(t, det, func(o *Options) { o.Listen = "0.0.0.0:8080"; o.Token = tok })
	const host, client = "192.168.1.20:8080", "192.168.1.9:5000"
	for _, path := range []string{"/status", "/diagnoses", "/diagnoses/latest", "/bundle", "/rejections", "/metrics"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + tok[:16], "Basic " + tok, tok} {
			rec := do(srv, "GET", host, client, path, auth)
			assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s %q", path, auth)
			assert.Equal(t, `Bearer realm="rig-agent"`, rec.Header().Get("WWW-Authenticate"))
		}
		want := http.StatusOK
		if path == "/diagnoses/latest" {
			want = http.StatusNotFound // no diagnosis yet
		}
		assert.Equal(t, want, do(srv, "GET", host, client, path, "Bearer "+tok).Code, path)
		assert.Equal(t, want, do(srv, "GET", host, client, path, "bearer "+tok).Code, "the scheme is case-insensitive")
	}
	assert.Equal(t, http.StatusUnauthorized, do(srv, "POST", host, client, "/detector/recalibrate", "Bearer nope").Code)
	assert.Zero(t, det.calls, "refused without the token")
	assert.Equal(t, http.StatusAccepted, do(srv, "POST", host, client, "/detector/recalibrate", "Bearer "+tok).Code)
	for _, path := range []string{"/health/live", "/health/ready"} {
		assert.Equal(t, http.StatusOK, do(srv, "GET", host, client, path, "").Code, "%s is open for probes", path)
	}
	assert.Contains(t, do(srv, "GET", host, client, "/metrics", "Bearer "+tok).Body.String(),
		`rig_agent_api_requests_refused_total{reason="unauthorized"} 31`)
}

// POST /detector/recalibrate is limited per client: a burst, then one
// every RecalibrateEvery; 429 with Retry-After, the detector not called;
// another client has its own bucket.
func TestRecalibrateRateLimit(t *testing.T) {
	var mu sync.Mutex
	now := t0
	det := &fakeDetector{}
	srv := accessServer(t, det, func(o *Options) {
		o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	post := func(client string) *httptest.ResponseRecorder {
		return do(srv, "POST", "127.0.0.1:8080", client, "/detector/recalibrate", "")
	}
	for i := range DefaultRecalibrateBurst {
		require.Equal(t, http.StatusAccepted, post("127.0.0.1:5000").Code, i)
	}
	rec := post("127.0.0.1:5001") // same address, another port: the same client
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	assert.Equal(t, "20", rec.Header().Get("Retry-After"))
	assert.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
	assert.Contains(t, rec.Body.String(), ProblemRateLimited)
	assert.Contains(t, rec.Body.String(), "nothing was changed")
	assert.Equal(t, DefaultRecalibrateBurst, det.calls)
	assert.Equal(t, http.StatusAccepted, post("127.0.0.2:5000").Code, "another client")

	mu.Lock()
	now = now.Add(DefaultRecalibrateEvery)
	mu.Unlock()
	assert.Equal(t, http.StatusAccepted, post("127.0.0.1:5000").Code, "one more after RecalibrateEvery")
	assert.Equal(t, http.StatusTooManyRequests, post("127.0.0.1:5000").Code)
	assert.Contains(t, do(srv, "GET", "127.0.0.1", "127.0.0.1:5000", "/metrics", "").Body.String(),
		`rig_agent_api_requests_refused_total{reason="rate_limited"} 2`)
}

// The limiter tracks at most its cap of clients.
func TestLimiterCapped(t *testing.T) {
	l := newLimiter(1, time.Minute, 3)
	for i := range 10 {
		ok, _ := l.allow(strings.Repeat("c", i+1), t0)
		assert.True(t, ok)
		assert.LessOrEqual(t, len(l.clients), 3)
	}
	ok, wait := l.allow("cccccccccc", t0)
	assert.False(t, ok)
	assert.Equal(t, time.Minute, wait)
}
