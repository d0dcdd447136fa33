package tests

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	promparser "github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPrometheusAlertsFire runs alerts of deploy/prometheus/ as
// Prometheus' rule manager does, on series written as the binaries would
// export them (loaded at a 1m scrape interval): each alert fires on the
// trouble it is about, stays quiet on a healthy rig or cloud (label
// matching of `and`/`unless`, the recording rules feeding it, thresholds),
// and waits its `for:` before it fires. For each case the groups of the
// alert's file are evaluated with the rules package (rules.Group.Eval,
// the rule manager's own evaluation: rules in file order, results and
// staleness markers appended to the storage, rules.EngineQueryFunc) at
// every step of the group's interval, from early enough for `for:`,
// `keep_firing_for:` and the ranges the alert reads of recorded series
// (evalWindow) up to the case's time `at`, where the alert must be in
// state want: firing, pending (true, but not yet for `for:`) or inactive.
// The alerts group holds only the alert under test (the others write
// nothing it reads); rule evaluation errors and template expansion
// failures fail the case.
func TestPrometheusAlertsFire(t *testing.T) {
	root := repoRoot(t)
	p := promparser.NewParser(promparser.Options{})
	// groups[i] are the rule groups of ruleFiles[i], in file order.
	groups := make([][]rulefmt.RuleGroup, len(ruleFiles))
	alertFile := map[string]int{} // alert name: index in ruleFiles
	for i, rf := range ruleFiles {
		parsed, errs := rulefmt.ParseFile(filepath.Join(root, rf.file), false, model.UTF8Validation, p, slog.New(slog.DiscardHandler))
		require.Empty(t, errs)
		groups[i] = parsed.Groups
		for _, g := range parsed.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					alertFile[r.Alert] = i
				}
			}
		}
	}
	const (
		firing   = rules.StateFiring
		pending  = rules.StatePending
		inactive = rules.StateInactive
	)
	const agent = `job="rig-agent",instance="rig-001:8080"`
	const cloud = `job="rig-cloud",instance="api-1:9091"`
	const cloud2 = `job="rig-cloud",instance="api-2:9091"`
	const worker = `job="rig-cloud-worker",instance="worker-1:9092"`
	const store = `dir="store",path="/var/lib/rig-agent"`
	// diskInfo is the load line of rig_agent_disk_info for the role (dir
	// and path labels) on the file system dev, for n+1 scrapes.
	diskInfo := func(role, dev string, n int) string {
		return fmt.Sprintf("\nrig_agent_disk_info{%s,%s,dev=%q} 1x%d", agent, role, dev, n)
	}
	for _, tc := range []struct {
		name, alert, load string
		at                time.Duration
		want              rules.AlertState
	}{
		{"5 % of requests fail", "RigCloudErrorBudgetBurnFast", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+95x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="404"} 0+500x130`, 2 * time.Hour, firing},
		{"4xx only", "RigCloudErrorBudgetBurnFast", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+95x130
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="404"} 0+500x130`, 2 * time.Hour, inactive},
		{"0.05 % fail for a day: within budget", "RigCloudErrorBudgetBurnSlow", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+9995x1500
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x1500`, 25 * time.Hour, inactive},
		{"0.5 % fail for a day", "RigCloudErrorBudgetBurnSlow", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="200"} 0+995x1500
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/v1/rigs",code="500"} 0+5x1500`, 25 * time.Hour, firing},
		{"readiness fails", "RigCloudDatabaseUnreachable", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="200"} 0+6x10 60x20
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="503"} 0x10 0+6x20`, 30 * time.Minute, firing},
		{"readiness flaps", "RigCloudDatabaseUnreachable", `
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="200"} 0+6x30
rig_cloud_http_requests_total{` + cloud + `,method="GET",route="/health/ready",code="503"} 0+1x30`, 30 * time.Minute, inactive},
		{"status route slow", "RigCloudLatencyHigh", `
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.256"} 0+90x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.512"} 0+95x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="1.024"} 0+100x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="+Inf"} 0+100x30`, 30 * time.Minute, firing},
		{"status route slow for 10 minutes (for: 15m)", "RigCloudLatencyHigh", `
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.256"} 0+90x10
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.512"} 0+95x10
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="1.024"} 0+100x10
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="+Inf"} 0+100x10`, 10 * time.Minute, pending},
		{"status route fast", "RigCloudLatencyHigh", `
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="0.256"} 0+100x30
rig_cloud_http_request_duration_seconds_bucket{` + cloud + `,method="GET",route="/v1/rigs/:rig/status",le="+Inf"} 0+100x30`, 30 * time.Minute, inactive},
		{"rollout steps fail at every pass", "RigCloudRolloutStepErrors", `
rig_cloud_rollout_step_errors_total{` + cloud + `} 0+1x60`, time.Hour, firing},
		{"one failed rollout step: increase[30m] holds 29 minutes, under its for: 30m", "RigCloudRolloutStepErrors", `
rig_cloud_rollout_step_errors_total{` + cloud + `} 0x20 1x29`, 49 * time.Minute, pending},
		{"one failed rollout step, 59 minutes ago", "RigCloudRolloutStepErrors", `
rig_cloud_rollout_step_errors_total{` + cloud + `} 0x20 1x59`, 80 * time.Minute, inactive},
		{"most training jobs fail", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x30 0+1x60
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="retried"} 0+1x90`, 90 * time.Minute, firing},
		{"a few of many training jobs fail", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x30 0+0.1x60`, 90 * time.Minute, inactive},
		{"two training jobs, both failed", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x60 1x10 2x20`, 90 * time.Minute, inactive},
		{"retries only (jobs queued again)", "RigCloudJobsFailing", `
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="succeeded"} 0+1x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="failed"} 0x90
rig_cloud_worker_attempts_total{` + worker + `,kind="train",result="retried"} 0+5x90`, 90 * time.Minute, inactive},
		{"a rig runs another firmware config", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 0x30 2x60
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 0x30 2x60`, 90 * time.Minute, firing},
		{"a mismatched rig, one replica restarted (0 until its first pass)", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 1x90
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 1x89 0`, 90 * time.Minute, firing},
		{"every rig as registered", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 0x90
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 0x90`, 90 * time.Minute, inactive},
		{"registration corrected: the alert clears", "RigCloudFirmwareMismatch", `
rig_cloud_rigs_firmware_mismatched{` + cloud + `} 3x60 0x30
rig_cloud_rigs_firmware_mismatched{` + cloud2 + `} 3x60 0x30`, 90 * time.Minute, inactive},
		{"readings arrive, no diagnosis", "RigAgentInferenceStalled", `
rig_agent_ingest_readings_total{` + agent + `} 0+600x60
rig_agent_diagnosis_last_timestamp_seconds{` + agent + `} 60x60`, time.Hour, firing},
		{"diagnoses keep up", "RigAgentInferenceStalled", `
rig_agent_ingest_readings_total{` + agent + `} 0+600x60
rig_agent_diagnosis_last_timestamp_seconds{` + agent + `} 0+60x60`, time.Hour, inactive},
		{"rig silent", "RigAgentNoReadings", `
rig_agent_ingest_readings_total{` + agent + `} 100x60
rig_agent_ingest_connected{` + agent + `} 1x60`, time.Hour, firing},
		{"rig silent but ingest down (other alert)", "RigAgentNoReadings", `
rig_agent_ingest_readings_total{` + agent + `} 100x60
rig_agent_ingest_connected{` + agent + `} 0x60`, time.Hour, inactive},
		{"rig silent for an hour but for one reading 20 minutes ago (for: 30m)", "RigAgentNoReadings", `
rig_agent_ingest_readings_total{` + agent + `} 100x39 101x20
rig_agent_ingest_connected{` + agent + `} 1x60`, time.Hour, pending},
		{"buffer drops unreleased readings", "RigAgentBufferLosingReadings", `
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="false"} 0+50x30
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="true"} 0+50x30`, 30 * time.Minute, firing},
		{"buffer drops released readings only", "RigAgentBufferLosingReadings", `
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="false"} 0x30
rig_agent_buffer_dropped_total{` + agent + `,reason="max_bytes",released="true"} 0+50x30`, 30 * time.Minute, inactive},
		{"small disk stable at 12 % free for 6 hours (a Jetson's eMMC)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 1.8e9x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 15e9x360` + diskInfo(store, "179:1", 360), 6 * time.Hour, inactive},
		{"disk from 50 % to 10 % free 50 minutes ago (for: 1h)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 50e9x40 10e9x50
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x90` + diskInfo(store, "179:1", 90), 90 * time.Minute, pending},
		{"disk at 30 % free, empty within a day at the last 6 hours' rate", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 41e9-30e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360` + diskInfo(store, "179:1", 360), 6 * time.Hour, firing},
		{"disk at 30 % free, empty within a day, statfs failing at every 20th scrape", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} ` + gappy(360, 20, func(i int) float64 { return 41e9 - 30e6*float64(i) }) + `
rig_agent_disk_size_bytes{` + agent + `,` + store + `} ` + gappy(360, 20, func(int) float64 { return 100e9 }) + diskInfo(store, "179:1", 360), 6 * time.Hour, firing},
		{"disk at 30 % free, empty within a day, every 20th scrape failed (all series stale)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} ` + gappy(360, 20, func(i int) float64 { return 41e9 - 30e6*float64(i) }) + `
rig_agent_disk_size_bytes{` + agent + `,` + store + `} ` + gappy(360, 20, func(int) float64 { return 100e9 }) + `
rig_agent_disk_info{` + agent + `,` + store + `,dev="179:1"} ` + gappy(360, 20, func(int) float64 { return 1 }), 6 * time.Hour, firing},
		{"disk at 30 % free, steady", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 30e9x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360` + diskInfo(store, "179:1", 360), 6 * time.Hour, inactive},
		{"disk at 30 % free, filling slowly (empty in 5 days)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 31e9-4e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360` + diskInfo(store, "179:1", 360), 6 * time.Hour, inactive},
		{"disk at 62 % free, filling fast (empty within a day: left to the 40 % threshold)", "RigAgentDiskFillingUp", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 80e9-50e6x360
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x360` + diskInfo(store, "179:1", 360), 6 * time.Hour, inactive},
		{"disk at 3 % free", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 3e9x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x10` + diskInfo(store, "179:1", 10), 10 * time.Minute, firing},
		{"small disk with 200 MiB free (6 %)", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 209715200x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 3.4e9x10` + diskInfo(store, "179:1", 10), 10 * time.Minute, firing},
		{"disk at 3 % free for the last 3 minutes (for: 5m)", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 50e9x30 3e9x3
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x33` + diskInfo(store, "179:1", 33), 33 * time.Minute, pending},
		{"disk at 3 % free, statfs failing at every 4th scrape", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} ` + gappy(20, 4, func(int) float64 { return 3e9 }) + `
rig_agent_disk_size_bytes{` + agent + `,` + store + `} ` + gappy(20, 4, func(int) float64 { return 100e9 }) + diskInfo(store, "179:1", 20), 20 * time.Minute, firing},
		{"disk at 3 % free, then statfs failing for good (StatFailing's case)", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 3e9x10 stale
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x10 stale` + diskInfo(store, "179:1", 40), 40 * time.Minute, inactive},
		{"statfs never answered (no free space series)", "RigAgentDiskAlmostFull", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0+1x20`, 20 * time.Minute, inactive},
		{"disk at 10 % free", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 10e9x10
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x10` + diskInfo(store, "179:1", 10), 10 * time.Minute, inactive},
		{"statfs hangs at every scrape", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0+2x30` + diskInfo(store, "179:1", 30), 30 * time.Minute, firing},
		{"statfs never answered, failing at every scrape", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0+1x30`, 30 * time.Minute, firing},
		{"one statfs failure", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0x10 1x20` + diskInfo(store, "179:1", 30), 30 * time.Minute, inactive},
		{"cloud link down for 2.5 hours", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 1x150
rig_agent_cloud_link_up{` + agent + `} 0x150`, 150 * time.Minute, firing},
		{"cloud link down for 90 minutes (for: 2h)", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 1x90
rig_agent_cloud_link_up{` + agent + `} 0x90`, 90 * time.Minute, pending},
		{"cloud link down for 3 hours but up at one scrape 80 minutes ago", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 1x180
rig_agent_cloud_link_up{` + agent + `} 0x99 1 0x80`, 180 * time.Minute, pending},
		{"no cloud configured", "RigAgentCloudLinkDown", `
rig_agent_cloud_enabled{` + agent + `} 0x30
rig_agent_cloud_link_up{` + agent + `} 0x30`, 30 * time.Minute, inactive},
	} {
		t.Run(tc.alert+"/"+tc.name, func(t *testing.T) {
			fi, ok := alertFile[tc.alert]
			require.True(t, ok, "no alert %s", tc.alert)
			st := promqltest.LoadedStorage(t, "load 1m"+tc.load)
			at := time.Unix(0, 0).Add(tc.at)
			got := runAlert(t, p, st, groups[fi], tc.alert, at)
			assert.Equal(t, tc.want.String(), got.String(), "%s at %s on %s", tc.alert, tc.at, tc.name)
		})
	}

	// The disk alerts fire once per file system (dev), whatever the number
	// of roles on it: want holds the labels (but job and instance) and
	// the value of each firing alert.
	const (
		data    = `dir="data",path="/var/lib/rig-agent"`
		history = `dir="history",path="/var/lib/rig-agent"`
		updates = `dir="updates",path="/var/lib/rig-agent/updates"`
		sdcard  = `dir="store",path="/mnt/sd/rig-agent"`
	)
	// roles is the load of the disk gauges of each role rs, free bytes
	// from free (a load value: "3e9", "41e9-30e6" for a slope) and size
	// 100e9, on the file system dev, for n+1 scrapes.
	roles := func(free, dev string, n int, rs ...string) string {
		var b strings.Builder
		for _, r := range rs {
			fmt.Fprintf(&b, "\nrig_agent_disk_free_bytes{%s,%s} %sx%d", agent, r, free, n)
			fmt.Fprintf(&b, "\nrig_agent_disk_size_bytes{%s,%s} 100e9x%d", agent, r, n)
			b.WriteString(diskInfo(r, dev, n))
		}
		return b.String()
	}
	for _, tc := range []struct {
		name, alert, load string
		at                time.Duration
		want              map[string]float64 // labels: value
	}{
		{"four roles on one full file system", "RigAgentDiskAlmostFull",
			roles("3e9", "179:1", 10, data, store, history, updates), 10 * time.Minute,
			map[string]float64{`{alertname="RigAgentDiskAlmostFull", dev="179:1", severity="page"}`: 3e9}},
		{"two file systems, one full", "RigAgentDiskAlmostFull",
			roles("3e9", "179:1", 10, data, history) + roles("50e9", "8:1", 10, sdcard), 10 * time.Minute,
			map[string]float64{`{alertname="RigAgentDiskAlmostFull", dev="179:1", severity="page"}`: 3e9}},
		{"two file systems, the other one full", "RigAgentDiskAlmostFull",
			roles("50e9", "179:1", 10, data, history) + roles("3e9", "8:1", 10, sdcard), 10 * time.Minute,
			map[string]float64{`{alertname="RigAgentDiskAlmostFull", dev="8:1", severity="page"}`: 3e9}},
		{"file system remounted as another dev 9 minutes ago", "RigAgentDiskAlmostFull", `
rig_agent_disk_free_bytes{` + agent + `,` + store + `} 3e9x20
rig_agent_disk_size_bytes{` + agent + `,` + store + `} 100e9x20
rig_agent_disk_info{` + agent + `,` + store + `,dev="179:1"} 1x10 stale
rig_agent_disk_info{` + agent + `,` + store + `,dev="179:2"} _x11 1x9`, 20 * time.Minute,
			map[string]float64{`{alertname="RigAgentDiskAlmostFull", dev="179:2", severity="page"}`: 3e9}},
		{"four roles on one file system filling up", "RigAgentDiskFillingUp",
			roles("41e9-30e6", "179:1", 360, data, store, history, updates), 6 * time.Hour,
			map[string]float64{`{alertname="RigAgentDiskFillingUp", dev="179:1", severity="ticket"}`: 0.302}},
		{"statfs hangs for four roles on one file system", "RigAgentDiskStatFailing", `
rig_agent_disk_stat_errors_total{` + agent + `,` + data + `} 0+1x30
rig_agent_disk_stat_errors_total{` + agent + `,` + store + `} 0+1x30
rig_agent_disk_stat_errors_total{` + agent + `,` + history + `} 0+1x30
rig_agent_disk_stat_errors_total{` + agent + `,` + updates + `} 0+1x30` +
			diskInfo(data, "0:52", 30) + diskInfo(store, "0:52", 30) + diskInfo(history, "0:52", 30) + diskInfo(updates, "0:52", 30), 30 * time.Minute,
			map[string]float64{`{alertname="RigAgentDiskStatFailing", dev="0:52", severity="ticket"}`: 15}},
	} {
		t.Run(tc.alert+"/per file system/"+tc.name, func(t *testing.T) {
			st := promqltest.LoadedStorage(t, "load 1m"+tc.load)
			ar := runAlertRule(t, p, st, groups[alertFile[tc.alert]], tc.alert, time.Unix(0, 0).Add(tc.at))
			got := map[string]float64{}
			for _, a := range ar.ActiveAlerts() {
				require.Equal(t, rules.StateFiring, a.State, "%s", a.Labels)
				got[labels.NewBuilder(a.Labels).Del("job", "instance").Labels().String()] = a.Value
			}
			assert.Len(t, got, len(tc.want), "firing: %v", got)
			for l, v := range tc.want {
				if assert.Contains(t, got, l, "firing: %v", got) {
					assert.InDelta(t, v, got[l], 1e-9*v, "value of %s", l)
				}
			}
		})
	}
}

// defaultEvalInterval is the evaluation interval of a group that names
// none: Prometheus' default global evaluation_interval (deploy/ sets none).
const defaultEvalInterval = time.Minute

// runAlert evaluates groups (one rule file's, in file order) as the rule
// manager would, with only the alerting rule named alert kept of their
// alerting rules and only the recording rules it reads (neededRecords)
// kept of their recording rules, at every step of each group's interval over
// evalWindow before at and at at itself, and returns the alert's state at
// at: the highest of its alerts' (StateInactive when it has none).
// Rule evaluation errors and template expansion failures fail tb.
func runAlert(tb testing.TB, p promparser.Parser, st storage.Storage, groups []rulefmt.RuleGroup, alert string, at time.Time) rules.AlertState {
	tb.Helper()
	state := rules.StateInactive
	for _, a := range runAlertRule(tb, p, st, groups, alert, at).ActiveAlerts() {
		state = max(state, a.State)
	}
	return state
}

// runAlertRule is runAlert, but returns the alerting rule itself, as it
// stands after the evaluation at at (its ActiveAlerts, their labels and
// values).
func runAlertRule(tb testing.TB, p promparser.Parser, st storage.Storage, groups []rulefmt.RuleGroup, alert string, at time.Time) *rules.AlertingRule {
	tb.Helper()
	ctx := context.Background()
	logger := slog.New(failOnWarn{tb: tb})
	eng := promqltest.NewTestEngine(tb, false, 0, 10_000_000)
	opts := &rules.ManagerOptions{
		QueryFunc:  rules.EngineQueryFunc(eng, st),
		Appendable: st,
		Queryable:  st,
		Context:    ctx,
		Logger:     logger,
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
	}
	type sched struct {
		g        *rules.Group
		interval time.Duration
	}
	exprs := map[*rulefmt.Rule]promparser.Expr{}
	for _, rg := range groups {
		for i := range rg.Rules {
			r := &rg.Rules[i]
			if r.Record == "" && r.Alert != alert {
				continue
			}
			expr, err := p.ParseExpr(r.Expr)
			require.NoError(tb, err, "%s: %s", rg.Name, r.Expr)
			exprs[r] = expr
		}
	}
	needed := neededRecords(groups, exprs, alert)
	var (
		run      []sched
		ar       *rules.AlertingRule
		interval time.Duration // of the alert's group
		recorded = map[string]bool{}
	)
	for _, rg := range groups {
		var rs []rules.Rule
		for i := range rg.Rules {
			r := &rg.Rules[i]
			expr := exprs[r]
			switch {
			case r.Record != "" && needed[r.Record]:
				recorded[r.Record] = true
				rs = append(rs, rules.NewRecordingRule(r.Record, expr, labels.FromMap(r.Labels)))
			case r.Alert == alert:
				ar = rules.NewAlertingRule(r.Alert, expr, time.Duration(r.For), time.Duration(r.KeepFiringFor),
					labels.FromMap(r.Labels), labels.FromMap(r.Annotations), labels.EmptyLabels(), "", true, logger)
				rs = append(rs, ar)
			}
		}
		if len(rs) == 0 {
			continue
		}
		itv := time.Duration(rg.Interval)
		if itv == 0 {
			itv = defaultEvalInterval
		}
		if slices.Contains(rs, rules.Rule(ar)) {
			interval = itv
		}
		run = append(run, sched{rules.NewGroup(rules.GroupOptions{
			Name: rg.Name, File: "rules.yaml", Interval: itv, Rules: rs, Opts: opts,
		}), itv})
	}
	require.NotNil(tb, ar, "no alert %s", alert)
	window := evalWindow(ar, interval, recorded)
	// Each group steps back from at by its interval, down to at-window
	// (or 0, where the series begin); at equal times the groups run in
	// file order.
	type step struct {
		ts time.Time
		g  int
	}
	var steps []step
	for i, s := range run {
		n := min(window, at.Sub(time.Unix(0, 0))) / s.interval
		for k := n; k >= 0; k-- {
			steps = append(steps, step{at.Add(-k * s.interval), i})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int { return a.ts.Compare(b.ts) })
	for _, s := range steps {
		run[s.g].g.Eval(ctx, s.ts)
	}
	return ar
}

// neededRecords are the recording rules of groups the alert named alert
// reads, directly or through other recording rules: the others record
// series it never sees, so runAlert leaves them out (they only cost time).
// exprs holds the parsed expression of each of those rules.
func neededRecords(groups []rulefmt.RuleGroup, exprs map[*rulefmt.Rule]promparser.Expr, alert string) map[string]bool {
	reads := func(e promparser.Expr, into map[string]bool) (added bool) {
		promparser.Inspect(e, func(node promparser.Node, _ []promparser.Node) error {
			if vs, ok := node.(*promparser.VectorSelector); ok && vs.Name != "" && !into[vs.Name] {
				into[vs.Name] = true
				added = true
			}
			return nil
		})
		return added
	}
	names := map[string]bool{}
	for r, e := range exprs {
		if r.Alert == alert {
			reads(e, names)
		}
	}
	// Until no recording rule adds a name: a rule may read one recorded
	// later in the file.
	for changed := true; changed; {
		changed = false
		for _, rg := range groups {
			for i := range rg.Rules {
				if r := &rg.Rules[i]; r.Record != "" && names[r.Record] && reads(exprs[r], names) {
					changed = true
				}
			}
		}
	}
	return names
}

// evalWindow is how long before the case's time the evaluation starts, so
// that the alert's state at the end is the one Prometheus, evaluating
// since ever, would have: the alert's `for:` and `keep_firing_for:` (a
// firing state reached, or kept, inside the window) and one evaluation
// interval (between the two), plus the longest range or subquery over a
// recorded series its expression reads (their history must have been
// recorded by then).
func evalWindow(ar *rules.AlertingRule, interval time.Duration, recorded map[string]bool) time.Duration {
	var longest time.Duration
	promparser.Inspect(ar.Query(), func(node promparser.Node, path []promparser.Node) error {
		switch n := node.(type) {
		case *promparser.MatrixSelector:
			if vs, ok := n.VectorSelector.(*promparser.VectorSelector); ok && recorded[vs.Name] {
				longest = max(longest, n.Range)
			}
		case *promparser.SubqueryExpr:
			longest = max(longest, n.Range)
		}
		return nil
	})
	return ar.HoldDuration() + ar.KeepFiringFor() + interval + longest
}

// failOnWarn is a slog handler that fails the test on every record of
// level WARN or above: the rules package logs rule evaluation errors and
// alert template expansion failures so.
type failOnWarn struct {
	tb    testing.TB
	attrs []slog.Attr
}

func (h failOnWarn) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h failOnWarn) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s", a)
		return true
	})
	h.tb.Errorf("rules: %s:%s", r.Message, b.String())
	return nil
}

func (h failOnWarn) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(slices.Clip(h.attrs), as...)
	return h
}

func (h failOnWarn) WithGroup(string) slog.Handler { return h }

// gappy is a load line's values for n+1 scrapes, value(i) at the i-th,
// but "stale" at every every-th (the series was missing from that
// scrape), starting with the every/2-th.
func gappy(n, every int, value func(i int) float64) string {
	vs := make([]string, n+1)
	for i := range vs {
		if i%every == every/2 {
			vs[i] = "stale"
		} else {
			vs[i] = fmt.Sprintf("%g", value(i))
		}
	}
	return strings.Join(vs, " ")
}
