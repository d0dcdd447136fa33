package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/server"
	"github.com/hydrognn/hydrognn/shared/promtest"
	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// cloudRules is rig-cloud's Prometheus rule file, from this package.
const cloudRules = "../../../deploy/prometheus/rig-cloud.rules.yaml"

// needsTUF are the metrics only a replica serving a TUF repository
// (releases.repo_dir) exports; this test runs none, so tests/'s
// TestPrometheusRules (the source's metric definitions) checks them alone.
var needsTUF = regexp.MustCompile(`^rig_cloud_tuf_`)

// needsTraffic are label vectors with no series until traffic this test
// does not make (so none on /metrics): tests/'s TestPrometheusRules checks
// them alone.
var needsTraffic = map[string]string{
	"rig_cloud_diagnoses_total": "an agent's POST /v1/agent/diagnoses",
}

// TestRulesUseExportedMetrics: every rig_cloud_ metric the rules of
// deploy/prometheus/ read is on the real /metrics of `rig-cloud serve`
// (the API, its auth cache and rollout engine) or `rig-cloud worker` (blob
// sweep, abandoned trainers), run here against PostgreSQL: a renamed
// metric fails here (tests/'s TestPrometheusRules checks the same file
// against the source with Prometheus' parsers).
func TestRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	exported := map[string]bool{}

	// The worker: its metrics listener, with a blob sweep.
	wcfg := testConfig(t, dbtest.URL(t), "", "worker:\n  blob_gc_interval: 1h\n  metrics_listen: 127.0.0.1:0\n")
	var logs syncbuf.Buffer
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Work(wctx, wcfg, slog.New(slog.NewTextHandler(&logs, nil)), "test") }()
	var addr string
	require.Eventually(t, func() bool {
		m := regexp.MustCompile(`msg="worker metrics listening" addr=(\S+)`).FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	}, time.Minute, 20*time.Millisecond, "no worker metrics listener logged; logs:\n%s", logs.String())
	require.Eventually(t, func() bool {
		code, body, err := get(t, addr, "/metrics")
		if err != nil || code != 200 || !strings.Contains(body, "rig_cloud_worker_abandoned_trainers ") ||
			!strings.Contains(body, "rig_cloud_blob_gc_sweeps_total{") {
			return false
		}
		promtest.AddFamilies(exported, body)
		return true
	}, time.Minute, 50*time.Millisecond, "the worker's metrics never showed its trainers and a sweep")
	cancel()
	err := <-done
	assert.True(t, err == nil || errors.Is(err, context.Canceled), "Work: %v", err)

	// The API: /metrics on its listener (loopback), after a request so
	// that the per-request families have series.
	s := startServe(t, testConfig(t, dbtest.URL(t), "", ""))
	waitReady(t, s.addr)
	code, body, err := get(t, s.addr, "/metrics")
	require.NoError(t, err)
	require.Equal(t, 200, code, body)
	promtest.AddFamilies(exported, body)

	rules, err := os.ReadFile(cloudRules)
	require.NoError(t, err)
	names := promtest.RuleMetrics(string(rules), "rig_cloud_")
	require.NotEmpty(t, names)
	checked := 0
	for _, n := range names {
		if needsTUF.MatchString(n) || needsTraffic[n] != "" {
			continue
		}
		checked++
		assert.True(t, exported[n], "%s: %s is not on rig-cloud's /metrics (renamed? update the rule and docs/operations.md)", cloudRules, n)
	}
	assert.Positive(t, checked)
	assert.False(t, exported["rig_cloud_http_request_total"], "the check itself: a misspelled name is absent")
}
