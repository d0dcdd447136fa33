package api

import (
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/publish"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// historyStats is a real history whose Stats the test sets.
type historyStats struct {
	*history.Store
	st history.Stats
}

func (h historyStats) Stats() history.Stats { return h.st }

// errorField matches the names of the Stats fields that count errors,
// failures, drops and refusals: each must reach /metrics.
var errorField = regexp.MustCompile(`Err|Fail|Drop|Reject|Refus|Lost|Invalid|Crash|Timeout|Conflict|Gone`)

// TestMetricsExportEveryErrorCounter: every error, failure, drop and
// refusal counter in the parts' Stats is exported on /metrics (drops are
// never silent). A new counter of that kind fails the test until it is
// exported and listed here.
func TestMetricsExportEveryErrorCounter(t *testing.T) {
	// Field (type.Field) -> the metric line its value 7 must give.
	want := map[string]string{
		"ingest.Stats.ConnectFailures":     `rig_agent_ingest_connection_errors_total{kind="connect"} 7`,
		"ingest.Stats.ConnectionLost":      `rig_agent_ingest_connection_errors_total{kind="lost"} 7`,
		"ingest.Stats.StoreErrors":         `rig_agent_ingest_store_errors_total 7`,
		"ingest.Stats.DecodeFailures":      `rig_agent_ingest_decode_failures_total 7`,
		"ingest.Stats.Rejected":            `rig_agent_ingest_rejected_total{reason="malformed"} 7`,
		"buffer.Stats.CommitErrors":        `rig_agent_buffer_commit_errors_total 7`,
		"buffer.Stats.Rejected":            `rig_agent_buffer_rejected_total 7`,
		"buffer.Stats.Dropped":             `rig_agent_buffer_dropped_total{reason="max_age",released="false"} 7`,
		"windowing.Stats.Failed":           `rig_agent_windows_total{result="failed"} 7`,
		"windowing.Stats.StoreErrors":      `rig_agent_window_errors_total{stage="store"} 7`,
		"windowing.Stats.SinkErrors":       `rig_agent_window_errors_total{stage="sink"} 7`,
		"history.Stats.PruneErrors":        `rig_agent_history_prune_errors_total 7`,
		"history.Stats.Dropped":            `rig_agent_history_dropped_total{reason="max_count"} 7`,
		"publish.Stats.Failed":             `rig_agent_publish_total{result="failed"} 7`,
		"publish.Stats.Dropped":            `rig_agent_publish_total{result="dropped"} 7`,
		"plugin.Stats.Errors":              `rig_agent_plugin_payload_errors_total{plugin="p"} 7`,
		"plugin.Stats.Failed":              `rig_agent_plugin_failed_calls_total{plugin="p"} 7`,
		"plugin.Stats.Crashes":             `rig_agent_plugin_failures_total{kind="crash",plugin="p"} 7`,
		"plugin.Stats.Timeouts":            `rig_agent_plugin_failures_total{kind="timeout",plugin="p"} 7`,
		"plugin.Stats.StartFailures":       `rig_agent_plugin_failures_total{kind="start",plugin="p"} 7`,
		"api.LinkState.Dropped":            `rig_agent_cloud_dropped_total{alert="false"} 7`,
		"api.LinkState.DroppedAlerts":      `rig_agent_cloud_dropped_total{alert="true"} 7`,
		"api.LinkState.Invalid":            `rig_agent_cloud_refused_total{by="agent"} 7`,
		"api.LinkState.Rejected":           `rig_agent_cloud_refused_total{by="cloud"} 7`,
		"api.LinkState.Failures":           `rig_agent_cloud_request_failures_total 7`,
		"api.LinkState.CredentialErrors":   `rig_agent_cloud_credential_errors_total 7`,
		"api.LinkState.UploadReadingsLost": `rig_agent_cloud_upload_readings_lost_total 7`,
		"api.LinkState.CheckinsRefused":    `rig_agent_cloud_checkins_refused_total 7`,
		"api.LinkState.OutboxErrors":       `rig_agent_cloud_outbox_errors_total 7`,
		"api.LinkState.UploadConflicts":    `rig_agent_cloud_upload_conflicts_total 7`,
		"api.LinkState.UploadPartsRefused": `rig_agent_cloud_upload_parts_refused_total 7`,
		"api.LinkState.UploadsGone":        `rig_agent_cloud_uploads_gone_total 7`,
		"windowing.Stats.LateReadings":     `rig_agent_window_late_readings_total 7`,
		"ingest.Stats.Gaps":                `rig_agent_ingest_gaps_total 7`,
		"broker.Stats.MessagesDropped":     `rig_agent_broker_dropped_total{reason="queue_full"} 7`,
		"broker.Stats.InflightDropped":     `rig_agent_broker_dropped_total{reason="inflight_full"} 7`,
		"broker.Stats.HoldTimeouts":        `rig_agent_broker_hold_timeouts_total 7`,
		"broker.Stats.Rejected":            `rig_agent_broker_rejected_publishes_total 7`,
		"broker.Stats.TakeoversRefused":    `rig_agent_broker_refused_connections_total{reason="takeover"} 7`,
		"broker.Stats.GateRefused":         `rig_agent_broker_refused_connections_total{reason="gate"} 7`,
		"broker.Stats.ConnectingRefused":   `rig_agent_broker_refused_connections_total{reason="connecting"} 7`,
	}
	want["broker.Stats.SessionMessagesDropped"] = `rig_agent_broker_dropped_total{reason="session_removed"} 7`

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(t.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	for _, tc := range []struct {
		name string
		v    any // pointer to a zero Stats
	}{
		{"ingest.Stats", &ingest.Stats{}}, {"buffer.Stats", &buffer.Stats{}}, {"windowing.Stats", &windowing.Stats{}},
		{"history.Stats", &history.Stats{}}, {"publish.Stats", &publish.Stats{}}, {"plugin.Stats", &plugin.Stats{Name: "p"}},
		{"api.LinkState", &LinkState{}}, {"broker.Stats", &broker.Stats{}},
	} {
		rv := reflect.ValueOf(tc.v).Elem()
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			if !errorField.MatchString(f.Name) {
				continue
			}
			key := tc.name + "." + f.Name
			t.Run(key, func(t *testing.T) {
				line, ok := want[key]
				require.True(t, ok, "%s counts errors or drops but is not in this test's table: export it on /metrics and list it", key)
				// A copy of the zero stats with this one counter at 7.
				cp := reflect.New(rv.Type())
				cp.Elem().Set(rv)
				setSeven(t, cp.Elem().Field(i))
				o := Options{
					AgentID: "a1", Version: "test",
					Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
					Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
					Ingest:   stats[ingest.Stats]{}, Buffer: stats[buffer.Stats]{}, Windowing: stats[windowing.Stats]{},
					History: historyStats{Store: h}, Publisher: stats[publish.Stats]{},
					Plugins: stats[[]plugin.Stats]{[]plugin.Stats{{Name: "p"}}}, Link: &Link{}, Logger: quiet,
				}
				switch v := cp.Interface().(type) {
				case *ingest.Stats:
					o.Ingest = stats[ingest.Stats]{*v}
				case *buffer.Stats:
					o.Buffer = stats[buffer.Stats]{*v}
				case *windowing.Stats:
					o.Windowing = stats[windowing.Stats]{*v}
				case *history.Stats:
					o.History = historyStats{Store: h, st: *v}
				case *publish.Stats:
					o.Publisher = stats[publish.Stats]{*v}
				case *broker.Stats:
					o.Broker = stats[broker.Stats]{*v}
				case *plugin.Stats:
					o.Plugins = stats[[]plugin.Stats]{[]plugin.Stats{*v}}
				case *LinkState:
					ls := *v
					o.Link.SetSource(func() LinkState { return ls })
				}
				srv, err := New(o)
				require.NoError(t, err)
				ts := httptest.NewServer(srv.Handler())
				defer ts.Close()
				code, body := get(t, ts, "/metrics")
				require.Equal(t, 200, code)
				assert.Contains(t, body, line+"\n")
			})
		}
	}
}

// setSeven sets a counter field to 7: a number, every number of a struct
// (DropCounts), or one key of a map.
func setSeven(tb testing.TB, v reflect.Value) {
	tb.Helper()
	switch v.Kind() {
	case reflect.Uint64:
		v.SetUint(7)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Struct:
		for i := range v.NumField() {
			setSeven(tb, v.Field(i))
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		switch k.Kind() {
		case reflect.String:
			k.SetString(map[bool]string{true: "malformed", false: history.ReasonMaxCount}[v.Type().Key() == reflect.TypeOf(ingest.Reason(""))])
		default:
			tb.Fatalf("map key %s", k.Type())
		}
		m.SetMapIndex(k, reflect.ValueOf(uint64(7)).Convert(v.Type().Elem()))
		v.Set(m)
	default:
		tb.Fatalf("counter of kind %s", v.Kind())
	}
}
