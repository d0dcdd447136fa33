package rigctl

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arrivals is an HTTP server that answers GET /?k=K after pause, keeping
// when each request K arrived.
type arrivals struct {
	mu sync.Mutex
	at map[int]time.Time
}

func newArrivals(t *testing.T, pause time.Duration) (*arrivals, func(ctx context.Context, k int) error) {
	a := &arrivals{at: map[int]time.Time{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		k, err := strconv.Atoi(r.URL.Query().Get("k"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		a.at[k] = now
		a.mu.Unlock()
		time.Sleep(pause)
	}))
	t.Cleanup(srv.Close)
	send := func(ctx context.Context, k int) error {
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"/?k="+strconv.Itoa(k), nil)
		if err != nil {
			return err
		}
		res, err := srv.Client().Do(req)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return errors.New(res.Status)
		}
		return nil
	}
	return a, send
}

// TestOpenLoopCountsTheWait offers 100 requests/s for 400 ms to a server
// that takes 40 ms per request, through one client: the client falls
// behind, and each request's latency runs from when it was due, so request
// k, sent after the k before it (each 40 ms or more), waited at least
// 30 ms × k on top of its own 40 ms. A closed loop (and a load generator
// that times from the send) would see 40 ms for every request.
func TestOpenLoopCountsTheWait(t *testing.T) {
	a, send := newArrivals(t, 40*time.Millisecond)
	l := openLoop{rate: 100, duration: 400 * time.Millisecond, grace: time.Minute, clients: 1}
	run := l.run(t.Context(), send)
	require.Len(t, run.samples, 40)
	for k, s := range run.samples {
		require.Equal(t, openOK, s.outcome, "request %d", k)
		assert.GreaterOrEqual(t, s.latency, 40*time.Millisecond+time.Duration(k)*30*time.Millisecond, "request %d: latency from its due time", k)
		assert.GreaterOrEqual(t, s.latency, s.delay+40*time.Millisecond, "request %d: the wait for the client and the answer", k)
		if k > 0 {
			assert.GreaterOrEqual(t, s.delay, time.Duration(k)*30*time.Millisecond, "request %d: sent late, the client busy", k)
		}
		assert.False(t, a.at[k].Before(l.due(run.start, k)), "request %d arrived before it was due", k)
	}
	assert.GreaterOrEqual(t, run.elapsed, 40*40*time.Millisecond)
}

// TestOpenLoopPaces: with clients to spare, requests go out when due, not
// at once: none arrives before its due time and the run lasts the
// duration.
func TestOpenLoopPaces(t *testing.T) {
	a, send := newArrivals(t, 0)
	l := openLoop{rate: 200, duration: 300 * time.Millisecond, grace: time.Minute, clients: 8}
	run := l.run(t.Context(), send)
	require.Len(t, run.samples, 60)
	for k, s := range run.samples {
		require.Equal(t, openOK, s.outcome, "request %d", k)
		assert.False(t, a.at[k].Before(l.due(run.start, k)), "request %d arrived before it was due", k)
		assert.GreaterOrEqual(t, s.latency, s.delay)
	}
	assert.GreaterOrEqual(t, run.elapsed, 295*time.Millisecond)
}

// TestOpenLoopUnsent: requests still waiting for a client grace after the
// last due time are not sent, and count at least the wait until then.
func TestOpenLoopUnsent(t *testing.T) {
	_, send := newArrivals(t, 40*time.Millisecond)
	l := openLoop{rate: 100, duration: 400 * time.Millisecond, grace: 100 * time.Millisecond, clients: 1}
	run := l.run(t.Context(), send)
	require.Len(t, run.samples, 40)
	var sent, unsent int
	for k, s := range run.samples {
		switch s.outcome {
		case openOK:
			assert.Zero(t, unsent, "request %d sent after an earlier one was not", k)
			sent++
		case openUnsent:
			assert.GreaterOrEqual(t, s.latency, l.grace, "request %d", k)
			unsent++
		default:
			t.Errorf("request %d failed", k)
		}
	}
	assert.Positive(t, sent)
	assert.Positive(t, unsent)
	assert.Less(t, run.elapsed, 40*40*time.Millisecond, "waited for the unsent requests")
}

// TestBenchCloudOpen runs rigctl bench cloud tiny in open-loop mode
// against rig-cloud built from this checkout.
func TestBenchCloudOpen(t *testing.T) {
	bin := rigCloudBin(t)
	code, stdout, stderr := run(t, "bench", "cloud", "--json", "--cloud", bin, "--database-url", os.Getenv("DATABASE_URL"),
		"--orgs", "3", "--rigs", "30", "--history-rigs", "4", "--days", "40", "--clients", "6", "--duration", "1s", "--rate", "100")
	require.Equal(t, ExitOK, code, "stderr: %s\nstdout: %s", stderr, stdout)
	var r map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
	for _, k := range []string{"ingest_rows_per_s", "status_p50_ms", "status_p99_ms", "history_p99_ms", "req_per_s", "errors",
		"offered_per_s", "achieved_per_s", "scheduled", "unsent", "send_delay_p99_ms"} {
		assert.Contains(t, r, k)
	}
	assert.Equal(t, "open", r["mode"])
	assert.Equal(t, 100.0, r["offered_per_s"])
	assert.Equal(t, 100.0, r["scheduled"])
	assert.Equal(t, r["req_per_s"], r["achieved_per_s"])
	assert.InDelta(t, 100.0, r["requests"].(float64)+r["unsent"].(float64), 0)
	assert.InDelta(t, 100.0, r["status_requests"].(float64)+r["history_requests"].(float64), 0)
	assert.Positive(t, r["status_requests"])
	assert.Positive(t, r["history_requests"])
	assert.Positive(t, r["status_p99_ms"])
	assert.Positive(t, r["achieved_per_s"])
	assert.Zero(t, r["errors"])

	for _, rate := range []string{"-1", "NaN", "1e9"} {
		code, _, _ = run(t, "bench", "cloud", "--rate", rate)
		assert.Equal(t, ExitUsage, code, "--rate %s", rate)
	}
}
