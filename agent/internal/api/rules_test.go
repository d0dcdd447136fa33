package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/publish"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/promtest"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// agentRules is the agent's Prometheus rule file, from this package.
const agentRules = "../../../deploy/prometheus/rig-agent.rules.yaml"

// TestRulesUseExportedMetrics: every rig_agent_ metric the alerting and
// recording rules of deploy/prometheus/ read is on the /metrics of an
// agent with every part (broker, publisher, plugin, updater, liveness,
// inference histograms, cloud link, disk space): a renamed metric fails here, against
// the real registry (tests/'s TestPrometheusRules checks the same files
// with Prometheus' parsers against the source).
func TestRulesUseExportedMetrics(t *testing.T) {
	exported := scrapeFamilies(t, fullServer(t))
	rules, err := os.ReadFile(agentRules)
	require.NoError(t, err)
	names := promtest.RuleMetrics(string(rules), "rig_agent_")
	require.NotEmpty(t, names)
	for _, n := range names {
		assert.True(t, exported[n], "%s: %s is not on the agent's /metrics (renamed? update the rule and docs/operations.md)", agentRules, n)
	}
	// The check itself: a misspelled name is caught.
	assert.Equal(t, []string{"rig_agent_ingest_reading_total"}, promtest.RuleMetrics("expr: rate(rig_agent_ingest_reading_total[5m]) > instance:rig_agent_x:rate5m", "rig_agent_"))
	assert.False(t, exported["rig_agent_ingest_reading_total"])
}

// scrapeFamilies returns the series names of a /metrics body: each
// family's name, and a histogram's _bucket, _sum and _count.
func scrapeFamilies(tb testing.TB, srv *Server) map[string]bool {
	tb.Helper()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	code, body := get(tb, ts, "/metrics")
	require.Equal(tb, 200, code, body)
	names := promtest.Families(body)
	require.NotEmpty(tb, names, "no # TYPE line in /metrics:\n%s", body)
	return names
}

// fullServer is a Server with every optional part, so that every metric
// the agent can export is on its /metrics.
func fullServer(tb testing.TB) *Server {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(tb.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = h.Close() })
	live, err := liveness.New(2*time.Minute, time.Now)
	require.NoError(tb, err)
	_, err = live.Register("ingest")
	require.NoError(tb, err)
	link := &Link{}
	link.SetSource(func() LinkState { return LinkState{State: "up", Connected: true} })
	disk, err := diskspace.NewMonitor([]diskspace.Dir{{Role: "store", Path: tb.TempDir()}}, 0, quiet)
	require.NoError(tb, err)
	inf, cpu := NewInferenceHistogram(), NewInferenceCPUHistogram()
	inf.Observe(0.001)
	cpu.Observe(0.001)
	srv, err := New(Options{
		AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
		Ingest:   stats[ingest.Stats]{ingest.Stats{Rejected: map[ingest.Reason]uint64{"malformed": 1}}},
		Buffer:   stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
		History: historyStats{Store: h}, Publisher: stats[publish.Stats]{}, Broker: stats[broker.Stats]{},
		Plugins: stats[[]plugin.Stats]{[]plugin.Stats{{Name: "p"}}}, Link: link, CloudEnabled: true,
		Update: updateStats{update.Status{Record: update.Record{State: update.Idle, Installed: &update.Bundle{Dir: "/b", Version: "1.0.0"}},
			CycleErrors: map[string]uint64{"disk_full": 1}}},
		Liveness: live, Disk: disk,
		Inference: inf, InferenceCPU: cpu, Logger: quiet,
	})
	require.NoError(tb, err)
	return srv
}
