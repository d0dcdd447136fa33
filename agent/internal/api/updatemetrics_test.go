package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/publish"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

type updateStats struct{ st update.Status }

func (u updateStats) Status() update.Status { return u.st }

// TestMetricsExportUpdateCycleErrors: every cycle error the updater counts
// (update.Status.CycleErrors, by reason) is on /metrics, and so is its
// retry backoff (Status.Retries; with NextRetry on /status too).
func TestMetricsExportUpdateCycleErrors(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	st := update.Status{Record: update.Record{State: update.Failed, Installed: &update.Bundle{Dir: "/b", Version: "1.0.0"}},
		CycleErrors: map[string]uint64{}, DowngradesRefused: 3, Retries: 2, NextRetry: time.Date(2026, 11, 27, 7, 0, 5, 0, time.UTC)}
	for i, r := range update.CycleErrorReasons {
		st.CycleErrors[r] = uint64(i + 1)
	}
	srv, err := New(Options{
		AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
		Ingest:   stats[ingest.Stats]{}, Buffer: stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
		History: historyStats{Store: h}, Publisher: stats[publish.Stats]{},
		Plugins: stats[[]plugin.Stats]{}, Link: &Link{}, Logger: quiet,
		Update: updateStats{st},
	})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	code, body := get(t, ts, "/metrics")
	require.Equal(t, 200, code)
	for i, r := range update.CycleErrorReasons {
		assert.Contains(t, body, `rig_agent_update_cycle_errors_total{reason="`+r+`"} `+strconv.Itoa(i+1)+"\n")
	}
	assert.Contains(t, body, "rig_agent_update_downgrades_refused_total 3\n")
	assert.Contains(t, body, `rig_agent_update_state{state="incompatible"} 0`+"\n")
	assert.Contains(t, body, "rig_agent_update_retries 2\n")
	code, body = get(t, ts, "/status")
	require.Equal(t, 200, code)
	assert.Contains(t, body, `"retries": 2,`)
	assert.Contains(t, body, `"next_retry": "2026-11-27T07:00:05Z"`)
}
