package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/ingest"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

type stats[T any] struct{ v T }

func (s stats[T]) Stats() T { return s.v }

// ingestStub is the ingest's Stats and its latest rejections.
type ingestStub struct {
	stats[ingest.Stats]
	rej []ingest.Rejection
}

func (s ingestStub) Rejections() []ingest.Rejection { return s.rej }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newServer serves a real history holding n one-minute windows from t0,
// with fixed stats for the other parts.
func newServer(tb testing.TB, n int, ready func() []string) (*httptest.Server, *Link) {
	tb.Helper()
	minutes := make([]int, n)
	for i := range minutes {
		minutes[i] = i
	}
	return newServerWindows(tb, minutes, ready)
}

// newServerWindows is newServer with one diagnosis per element of
// minutes, of the one-minute window that many minutes after t0 (Seq 1, 2,
// ... in that order).
func newServerWindows(tb testing.TB, minutes []int, ready func() []string) (*httptest.Server, *Link) {
	tb.Helper()
	n := len(minutes)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := history.Open(filepath.Join(tb.TempDir(), "h.db"), history.Options{Logger: quiet, MaxAge: -1})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = h.Close() })
	for _, i := range minutes {
		s := t0.Add(time.Duration(i) * time.Minute)
		_, err := h.Append(context.Background(), &diag.Diagnosis{RigID: "rig-1", CreatedAt: s.Add(62 * time.Second),
			Window: diag.Window{Start: s, End: s.Add(time.Minute)}, Status: diag.Healthy, Health: 0.9}, history.Progress{})
		require.NoError(tb, err)
	}
	link := &Link{}
	srv, err := New(Options{
		MaxHistoryItems: 50, AgentID: "a1", Version: "test",
		Rig:      &rig.Config{RigType: "zema-testrig", Equipment: rig.Equipment{ID: "rig-1"}},
		Manifest: &bundle.Manifest{Name: "b", Version: "1.0.0"},
		Ingest: ingestStub{stats[ingest.Stats]{ingest.Stats{Connected: true, Readings: 42, Rejected: map[ingest.Reason]uint64{"malformed": 2}}},
			[]ingest.Rejection{{Time: t0, Reason: ingest.ReasonMalformed, Topic: "hydrognn/zema/ps", Detail: `json: bad value "abc"`},
				{Time: t0.Add(time.Second), Reason: ingest.ReasonOutOfRange, Topic: "hydrognn/zema/ps", Sensor: "PS1", Detail: "value 1e9 is outside [0, 200] bar"}}},
		Buffer:    stats[buffer.Stats]{buffer.Stats{Records: 7}},
		Windowing: stats[windowing.Stats]{windowing.Stats{Diagnosed: uint64(n)}},
		History:   h, Link: link, Inference: NewInferenceHistogram(), InferenceCPU: NewInferenceCPUHistogram(), Ready: ready, Logger: quiet,
		Plugins: stats[[]plugin.Stats]{[]plugin.Stats{{Name: "vendor", Running: true, Calls: 9, Crashes: 2, Timeouts: 1, Restarts: 3}}},
	})
	require.NoError(tb, err)
	ts := httptest.NewServer(srv.Handler())
	tb.Cleanup(ts.Close)
	return ts, link
}

func get(tb testing.TB, ts *httptest.Server, path string) (int, string) {
	tb.Helper()
	resp, err := http.Get(ts.URL + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

func TestHistoryQueries(t *testing.T) {
	ts, _ := newServer(t, 10, nil)
	for _, tc := range []struct {
		path string
		code int
		want []uint64
		more bool
		next string
		err  string
	}{
		{path: "/diagnoses", code: 200, want: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{path: "/diagnoses?from=2026-03-01T12:02:00Z&to=2026-03-01T12:05:00Z", code: 200, want: []uint64{3, 4, 5}},
		{path: "/diagnoses?limit=2", code: 200, want: []uint64{1, 2}, more: true, next: "/diagnoses?cursor=" + cursorOf(1, 2) + "&limit=2"},
		{path: "/diagnoses?limit=2&order=desc", code: 200, want: []uint64{10, 9}, more: true, next: "/diagnoses?cursor=" + cursorOf(8, 9) + "&limit=2&order=desc"},
		{path: "/diagnoses?from=2026-03-01T13:00:00%2B01:00&limit=1", code: 200, want: []uint64{1}, more: true, next: "/diagnoses?cursor=" + cursorOf(0, 1) + "&from=2026-03-01T12%3A00%3A00Z&limit=1"},
		{path: "/diagnoses?to=2026-03-01T12:05:00Z&limit=2&order=desc", code: 200, want: []uint64{5, 4}, more: true, next: "/diagnoses?cursor=" + cursorOf(3, 4) + "&limit=2&order=desc&to=2026-03-01T12%3A05%3A00Z"},
		{path: "/diagnoses?cursor=" + cursorOf(1, 2) + "&limit=2", code: 200, want: []uint64{3, 4}, more: true, next: "/diagnoses?cursor=" + cursorOf(3, 4) + "&limit=2"},
		{path: "/diagnoses?cursor=" + cursorOf(8, 9) + "&order=desc&from=2026-03-01T12:07:00Z", code: 200, want: []uint64{8}},
		{path: "/diagnoses?from=2026-03-01T12:08:00.000000001Z", code: 200, want: []uint64{10}, more: false},
		{path: "/diagnoses?cursor=", code: 400, err: `parameter cursor="" is not a page cursor`},
		{path: "/diagnoses?cursor=abc", code: 400, err: `parameter cursor="abc" is not a page cursor`},
		{path: "/diagnoses?cursor=1_x", code: 400, err: `parameter cursor="1_x"`},
		{path: "/diagnoses?cursor=1_-2", code: 400, err: `parameter cursor="1_-2"`},
		{path: "/diagnoses?cursor=99999999999999999999_1", code: 400, err: `parameter cursor="99999999999999999999_1"`},
		{path: "/diagnoses?cursor=1_2&cursor=1_3", code: 400, err: `"cursor" is given 2 times`},
		{path: "/diagnoses?from=yesterday", code: 400, err: `parameter from="yesterday" is not an RFC 3339 time`},
		{path: "/diagnoses?to=2026-03-01", code: 400, err: `parameter to="2026-03-01" is not an RFC 3339 time`},
		{path: "/diagnoses?limit=0", code: 400, err: `parameter limit="0" is not an integer in [1, 50]`},
		{path: "/diagnoses?limit=51", code: 400, err: `[1, 50] (api.max_history_items)`},
		{path: "/diagnoses?limit=ten", code: 400, err: `limit="ten"`},
		{path: "/diagnoses?order=up", code: 400, err: `order="up" is not asc or desc`},
		{path: "/diagnoses?form=2026-03-01T12:00:00Z", code: 400, err: `unknown parameter "form"`},
		{path: "/diagnoses?limit=1&limit=2", code: 400, err: `"limit" is given 2 times`},
		{path: "/diagnoses?from=2026-03-01T12:05:00Z&to=2026-03-01T12:05:00Z", code: 400, err: "is not before to"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			code, body := get(t, ts, tc.path)
			require.Equal(t, tc.code, code, body)
			if tc.code != 200 {
				var e errorBody
				require.NoError(t, json.Unmarshal([]byte(body), &e))
				assert.Contains(t, e.Error, tc.err)
				assert.Equal(t, 400, e.Status)
				return
			}
			var p DiagnosesPage
			require.NoError(t, json.Unmarshal([]byte(body), &p))
			var got []uint64
			for _, d := range p.Diagnoses {
				got = append(got, d.Seq)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.more, p.More)
			assert.Equal(t, tc.next, p.Next)
		})
	}
}

// cursorOf is the cursor of the diagnosis of window minute i with seq.
func cursorOf(i int, seq uint64) string {
	return fmt.Sprintf("%d_%d", t0.Add(time.Duration(i)*time.Minute).UnixNano(), seq)
}

// TestHistoryPagesSameWindowStart: several diagnoses sharing one window
// start across a page boundary (a model update diagnosing a window again)
// are each returned exactly once, in order, by following the next links,
// in both orders and at every page size. The old next link resumed at
// the last window start plus 1 ns (or, newest first, before it), which
// skipped the rest of that window's diagnoses.
func TestHistoryPagesSameWindowStart(t *testing.T) {
	// Window minutes of seq 1..8: seq 7 diagnoses minute 1 again.
	ts, _ := newServerWindows(t, []int{0, 1, 1, 1, 1, 2, 1, 3}, nil)
	for _, tc := range []struct {
		query string
		want  []uint64
	}{
		{"", []uint64{1, 2, 3, 4, 5, 7, 6, 8}},
		{"order=desc&", []uint64{8, 6, 7, 5, 4, 3, 2, 1}},
		{"from=2026-03-01T12:01:00Z&to=2026-03-01T12:03:00Z&", []uint64{2, 3, 4, 5, 7, 6}},
		{"order=desc&from=2026-03-01T12:01:00Z&to=2026-03-01T12:02:00Z&", []uint64{7, 5, 4, 3, 2}},
	} {
		for limit := 1; limit <= len(tc.want)+1; limit++ {
			path := fmt.Sprintf("/diagnoses?%slimit=%d", tc.query, limit)
			t.Run(path, func(t *testing.T) {
				var got []uint64
				for pages := 0; path != ""; pages++ {
					require.Less(t, pages, 20, "next links do not end")
					code, body := get(t, ts, path)
					require.Equal(t, 200, code, body)
					var p DiagnosesPage
					require.NoError(t, json.Unmarshal([]byte(body), &p))
					require.LessOrEqual(t, p.Count, limit)
					for _, d := range p.Diagnoses {
						got = append(got, d.Seq)
					}
					require.Equal(t, p.More, p.Next != "", "next exactly when more")
					path = p.Next
				}
				assert.Equal(t, tc.want, got, "every diagnosis once, in order")
			})
		}
	}
}

// FuzzParseQuery: any query string is accepted or refused with an error
// naming a parameter, never panics; what is accepted is in bounds, and an
// accepted cursor is the one its canonical form reads back as.
func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "limit=2", "from=2026-03-01T12:00:00Z&to=2026-03-01T13:00:00Z&order=desc",
		"cursor=" + cursorOf(1, 2) + "&limit=2", "cursor=-5_0", "cursor=1_18446744073709551615",
		"cursor=_", "cursor=1_2_3", "cursor=+1_+2", "cursor=%00", "cursor=1_2&cursor=1_2", "limit=0&cursor=x",
	} {
		f.Add(seed)
	}
	s := &Server{opts: Options{MaxHistoryItems: 50}}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := s.parseQuery(v)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "parameter ") && !strings.HasPrefix(msg, "unknown parameter ") && !strings.Contains(msg, " is not before to ") {
				t.Fatalf("error %q names no parameter", msg)
			}
			if _, given := v["cursor"]; given && strings.HasPrefix(msg, "parameter cursor=") {
				if _, perr := parseCursor(v.Get("cursor")); perr == nil {
					t.Fatalf("cursor %q refused by parseQuery, read by parseCursor", v.Get("cursor"))
				}
			}
			return
		}
		if q.Limit < 1 || q.Limit > 50 {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if q.After != nil {
			back, err := parseCursor(formatCursor(*q.After))
			if err != nil || back != *q.After {
				t.Fatalf("cursor %+v formats as %q, reads back as %+v, %v", *q.After, formatCursor(*q.After), back, err)
			}
		}
	})
}

// FuzzCursor: every history key survives its cursor's round trip.
func FuzzCursor(f *testing.F) {
	f.Add(int64(0), uint64(0))
	f.Add(int64(math.MinInt64), uint64(math.MaxUint64))
	f.Add(t0.UnixNano(), uint64(7))
	f.Fuzz(func(t *testing.T, ns int64, seq uint64) {
		k := history.Key{Start: ns, Seq: seq}
		back, err := parseCursor(formatCursor(k))
		if err != nil || back != k {
			t.Fatalf("cursor of %+v (%q) reads back as %+v, %v", k, formatCursor(k), back, err)
		}
	})
}

func TestRoutes(t *testing.T) {
	notReady := []string{"broker not connected (ingest session not up)"}
	ts, link := newServer(t, 0, func() []string { return notReady })
	code, body := get(t, ts, "/diagnoses/latest")
	assert.Equal(t, 404, code)
	assert.Contains(t, body, "no diagnosis yet")
	code, body = get(t, ts, "/health/ready")
	assert.Equal(t, 503, code)
	assert.Contains(t, body, "broker not connected")
	code, _ = get(t, ts, "/health/live")
	assert.Equal(t, 200, code)
	code, body = get(t, ts, "/rejections")
	require.Equal(t, 200, code, body)
	var rej RejectionsBody
	require.NoError(t, json.Unmarshal([]byte(body), &rej))
	assert.Equal(t, 2, rej.Count)
	assert.Equal(t, RejectionItem{Time: t0, Reason: "malformed", Topic: "hydrognn/zema/ps", Detail: `json: bad value "abc"`}, rej.Rejections[0])
	assert.Equal(t, "PS1", rej.Rejections[1].Sensor)
	code, body = get(t, ts, "/rejections?limit=1")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, "takes no parameters")
	code, body = get(t, ts, "/nope")
	assert.Equal(t, 404, code)
	assert.Contains(t, body, "routes: /status")
	resp, err := http.Post(ts.URL+"/status", "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	link.SetConnected(true)
	link.AddBytesSent(1234)
	var st StatusBody
	code, body = get(t, ts, "/status")
	require.Equal(t, 200, code)
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.False(t, st.Ready)
	assert.Equal(t, notReady, st.NotReady)
	assert.Equal(t, uint64(42), st.Ingest.Readings)
	assert.Equal(t, map[string]uint64{"malformed": 2}, st.Ingest.Rejected)
	assert.Equal(t, uint64(1234), st.Cloud.BytesSent)
	assert.True(t, st.Cloud.Connected)

	code, body = get(t, ts, "/metrics")
	require.Equal(t, 200, code)
	for _, want := range []string{
		"rig_agent_ready 0", "rig_agent_ingest_readings_total 42", `rig_agent_ingest_rejected_total{reason="malformed"} 2`,
		"rig_agent_buffer_readings 7", "rig_agent_cloud_bytes_sent_total 1234", "rig_agent_cloud_link_up 1",
		"rig_agent_inference_latency_seconds_bucket", "rig_agent_inference_cpu_seconds_bucket", "go_goroutines", `rig_agent_buffer_dropped_total{reason="max_bytes",released="false"} 0`,
		`rig_agent_plugin_running{plugin="vendor"} 1`, `rig_agent_plugin_calls_total{plugin="vendor"} 9`,
		`rig_agent_plugin_failures_total{kind="crash",plugin="vendor"} 2`, `rig_agent_plugin_failures_total{kind="timeout",plugin="vendor"} 1`,
		`rig_agent_plugin_restarts_total{plugin="vendor"} 3`,
		`rig_agent_cloud_dropped_total{alert="false"} 0`, `rig_agent_cloud_refused_total{by="cloud"} 0`,
	} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "rig_agent_cloud_link_state", "no state without a forwarder that reports one")

	// A forwarder's statistics: state, drops and refusals.
	link.SetSource(func() LinkState {
		return LinkState{State: "day_cap", Dropped: 5, DroppedAlerts: 2, Invalid: 1, Rejected: 4, BytesSent: 10}
	})
	_, body = get(t, ts, "/metrics")
	for _, want := range []string{
		`rig_agent_cloud_link_state{state="day_cap"} 1`, `rig_agent_cloud_dropped_total{alert="false"} 3`,
		`rig_agent_cloud_dropped_total{alert="true"} 2`, `rig_agent_cloud_refused_total{by="agent"} 1`,
		`rig_agent_cloud_refused_total{by="cloud"} 4`,
	} {
		assert.Contains(t, body, want)
	}
	_, body = get(t, ts, "/status")
	require.NoError(t, json.Unmarshal([]byte(body), &st))
	assert.Equal(t, "day_cap", st.Cloud.State)
	assert.Equal(t, uint64(2), st.Cloud.DroppedAlerts)
}
