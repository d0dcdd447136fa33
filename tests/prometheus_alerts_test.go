package tests

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrometheusAlertsFire evaluates alert expressions of deploy/prometheus/
// with Prometheus' own engine on series written as the binaries would
// export them: each alert fires on the trouble it is about and stays quiet
// on a healthy rig or cloud (label matching of `and`/`unless`, the
// recording rules feeding it, thresholds). Recording rules are evaluated
// in file order at the alert's time and their results stored, as
// Prometheus' rule manager does; `for:` is not simulated.
func TestPrometheusAlertsFire(t *testing.T) {
	root := repoRoot(t)
	p := promparser.NewParser(promparser.Options{})
	var records []rulefmt.Rule
	alerts := map[string]string{}
	for _, rf := range ruleFiles {
		groups, errs := rulefmt.ParseFile(filepath.Join(root, rf.file), false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
		require.Empty(t, errs)
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					records = append(records, r)
				} else {
					alerts[r.Alert] = r.Expr
				}
			}
		}
	}
	const agent = `job="rig-agent",instance="rig-001:8080"`
	const cloud = `job="rig-cloud",instance="api-1:9091"`
	const cloud2 = `job="rig-cloud",instance="api-2:9091"`
	const worker = `job="rig-cloud-worker",instance="worker-1:9092"`
	const store = `dir="store",path="/var/lib/rig-agent"`
	for _, tc := range []struct {
		name, alert, load string
		at                time.Duration
		fire              bool
	}{
		{"5 % of requests fail", "RigCloudErrorBudgetBurnFast", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+95x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="404"} 0+500x130`, 2 * time.Hour, true},
		{"4xx only", "RigCloudErrorBudgetBurnFast", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+95x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="404"} 0+500x130`, 2 * time.Hour, false},
		{"0.05 % fail for a day: within budget", "RigCloudErrorBudgetBurnSlow", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+9995x1500
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x1500`, 25 * time.Hour, false},
		{"0.5 % fail for a day", "RigCloudErrorBudgetBurnSlow", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+995x1500
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x1500`, 25 * time.Hour, true},
		{"readiness fails", "RigCloudDatabaseUnreachable", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="200"} 0+6x10 60x20
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="503"} 0x10 0+6x20`, 30 * time.Minute, true},
		{"readiness flaps", "RigCloudDatabaseUnreachable", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="200"} 0+6x30
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="503"} 0+1x30`, 30 * time.Minute, false},
		{"status route slow", "RigCloudLatencyHigh", `
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.256"} 0+90x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.512"} 0+95x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="1.024"} 0+100x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="+Inf"} 0+100x30`, 30 * time.Minute, true},
		{"status route fast", "RigCloudLatencyHigh", `
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.256"} 0+100x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="+Inf"} 0+100x30`, 30 * time.Minute, false},
		{"most training jobs fail", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x30 0+1x60
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="retried"} 0+1x90`, 90 * time.Minute, true},
		{"a few of many training jobs fail", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x30 0+0.1x60`, 90 * time.Minute, false},
		{"two training jobs, both failed", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x60 1x10 2x20`, 90 * time.Minute, false},
		{"retries only (jobs queued again)", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="retried"} 0+5x90`, 90 * time.Minute, false},
		{"a rig runs another firmware config", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 0x30 2x60
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 0x30 2x60`, 90 * time.Minute, true},
		{"a mismatched rig, one replica restarted (0 until its first pass)", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 1x90
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 1x89 0`, 90 * time.Minute, true},
		{"every rig as registered", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 0x90
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 0x90`, 90 * time.Minute, false},
		{"registration corrected: the alert clears", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 3x60 0x30
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 3x60 0x30`, 90 * time.Minute, false},
		{"readings arrive, no diagnosis", "RigAgentInferenceStalled", `
rig_agent_ingest_readings_total{` + agent + `} 0+600x60
rig_agent_diagnosis_last_timestamp_seconds{` + agent + `} 60x60`, time.Hour, true},
		{"diagnoses keep up", "RigAgentInferenceStalled", `
rig_agent_ingest_readings_total{` + agent + `} 0+600x60
rig_agent_diagnosis_last_timestamp_seconds{` + agent + `} 0+60x60`, time.Hour, false},
		{"rig silent", "RigAgentNoReadings", `
rig_agent_ingest_readings_total{` + agent + `} 100x60
rig_agent_ingest_connected{` + agent + `} 1x60`, time.Hour, true},
		{"rig silent but ingest down (other alert)", "RigAgentNoReadings", `
rig_agent_ingest_readings_total{` + agent + `} 100x60
rig_agent_ingest_connected{` + agent + `} 0x60`, time.Hour, false},
		{"buffer drops unreleased readings", "RigAgentBufferLosingReadings", `
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="false"} 0+50x30
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="true"} 0+50x30`, 30 * time.Minute, true},
		{"buffer drops released readings only", "RigAgentBufferLosingReadings", `
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="false"} 0x30
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="true"} 0+50x30`, 30 * time.Minute, false},
		{"disk at 10 % free", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 10e9x60
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x60`, time.Hour, true},
		{"disk at 30 % free, empty within a day at the last 6 hours' rate", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 41e9-30e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360`, 6 * time.Hour, true},
		{"disk at 30 % free, steady", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 30e9x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360`, 6 * time.Hour, false},
		{"disk at 30 % free, filling slowly (empty in 5 days)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 31e9-4e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360`, 6 * time.Hour, false},
		{"disk at 62 % free, filling fast (empty within a day: left to the 15 % threshold)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 80e9-50e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360`, 6 * time.Hour, false},
		{"disk at 3 % free", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 3e9x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x10`, 10 * time.Minute, true},
		{"small disk with 200 MiB free (6 %)", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 209715200x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 3.4e9x10`, 10 * time.Minute, true},
		{"disk at 10 % free", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 10e9x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x10`, 10 * time.Minute, false},
		{"statfs hangs at every scrape", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0+2x30`, 30 * time.Minute, true},
		{"one statfs failure", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0x10 1x20`, 30 * time.Minute, false},
		{"cloud link down", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 1x30
rig_agent_cloud_link_up{` + agent + `} 0x30`, 30 * time.Minute, true},
		{"no cloud configured", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 0x30
rig_agent_cloud_link_up{` + agent + `} 0x30`, 30 * time.Minute, false},
	} {
		t.Run(tc.alert+"/"+tc.name, func(t *testing.T) {
			expr, ok := alerts[tc.alert]
			require.True(t, ok, "no alert %s", tc.alert)
			st := promqltest.LoadedStorage(t, "load 1m"+tc.load)
			eng := promqltest.NewTestEngine(t, false, 0, 10_000_000)
			at := time.Unix(0, 0).Add(tc.at)
			ctx := context.Background()
			app := st.Appender(ctx)
			for _, r := range records {
				vec := instant(t, eng, st, r.Expr, at)
				for _, s := range vec {
					l := labels.NewBuilder(s.Metric).Set(model.MetricNameLabel, r.Record).Labels()
					_, err := app.Append(0, l, at.UnixMilli(), s.F)
					require.NoError(t, err, "record %s", r.Record)
				}
			}
			require.NoError(t, app.Commit())
			got := instant(t, eng, st, expr, at)
			if tc.fire {
				assert.NotEmpty(t, got, "%s does not fire on %s:\n%s", tc.alert, tc.name, expr)
			} else {
				assert.Empty(t, got, "%s fires on %s:\n%s", tc.alert, tc.name, expr)
			}
		})
	}
}

// instant evaluates expr at at and returns its vector.
func instant(tb testing.TB, eng *promql.Engine, st storage.Queryable, expr string, at time.Time) promql.Vector {
	tb.Helper()
	q, err := eng.NewInstantQuery(context.Background(), st, nil, strings.TrimSpace(expr), at)
	require.NoError(tb, err, "%s", expr)
	defer q.Close()
	res := q.Exec(context.Background())
	require.NoError(tb, res.Err, "%s", expr)
	switch v := res.Value.(type) {
	case promql.Vector:
		return v
	case promql.Scalar:
		return promql.Vector{{F: v.V, T: v.T}}
	default:
		tb.Fatalf("%s: a %T, not a vector", expr, res.Value)
		return nil
	}
}
