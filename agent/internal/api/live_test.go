package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// /health/live answers 503 naming a loop that stopped beating and since
// when, without a token, and 200 again once it beats; the metrics show
// each loop's last beat and whether it is stalled.
func TestLiveNamesStalledLoop(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg, err := liveness.New(2*time.Minute, clock)
	require.NoError(t, err)
	ing, err := reg.Register("ingest")
	require.NoError(t, err)
	_, err = reg.Register("windowing")
	require.NoError(t, err)
	hung := now

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	defer h.Close()
	srv, err := New(Options{AgentID: "a1", Version: "test", Token: "0123456789abcdef0123",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"}, History: h,
		Ingest:    ingestStub{stats[ingest.Stats]{ingest.Stats{Connected: true}}, nil},
		Buffer:    stats[buffer.Stats]{buffer.Stats{}},
		Windowing: stats[windowing.Stats]{windowing.Stats{}},
		Liveness:  reg, Logger: quiet})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	code, body := get(t, ts, "/health/live")
	require.Equal(t, 200, code, body)

	advance(3 * time.Minute)
	ing.Beat()
	code, body = get(t, ts, "/health/live")
	require.Equal(t, 503, code, body)
	var lb LiveBody
	require.NoError(t, json.Unmarshal([]byte(body), &lb))
	assert.Equal(t, "stalled", lb.Status)
	assert.Equal(t, "2m0s", lb.StallAfter)
	require.Len(t, lb.Stalled, 1, body)
	assert.Equal(t, "windowing", lb.Stalled[0].Loop)
	assert.True(t, lb.Stalled[0].Since.Equal(hung), body)
	assert.Positive(t, lb.Stalled[0].For)

	req, err := http.NewRequest("GET", ts.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	mb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, string(mb))
	m := string(mb)
	assert.Contains(t, m, `rig_agent_loop_stalled{loop="windowing"} 1`)
	assert.Contains(t, m, `rig_agent_loop_stalled{loop="ingest"} 0`)
	assert.Contains(t, m, `rig_agent_loop_last_beat_timestamp_seconds{loop="windowing"} 1.7723448e+09`)
	assert.Contains(t, m, "rig_agent_loop_stall_after_seconds 120")

	_, err = reg.Register("windowing") // beats again (the same loop)
	require.NoError(t, err)
	code, body = get(t, ts, "/health/live")
	require.Equal(t, 200, code, body)
	assert.JSONEq(t, `{"status":"ok"}`, body)
}
