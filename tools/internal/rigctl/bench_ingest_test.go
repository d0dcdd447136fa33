package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

// TestBenchIngest runs `rigctl bench ingest` for two seconds at 30,000
// readings/s against a rig-agent built from this checkout, with the
// embedded broker and, when one answers or is installed, Mosquitto: one
// JSON object per broker with every key, everything acknowledged and
// stored, nothing lost. 30,000 readings/s for 2 s are about 82 s of the
// zema-testrig's simulated time, so its first 60 s cycle is cut and
// diagnosed: the inference figures, wall (/diagnoses) and CPU (/metrics
// histogram), are positive. In-process (run), so that -race sees the
// publishers and their acknowledgements; TestBenchIngestSparkplug runs the
// binary.
func TestBenchIngest(t *testing.T) {
	needORT(t)
	agent := buildAgent(t)
	code, stdout, stderr := run(t, "bench", "ingest", "--json", "--agent", agent, "--rate", "30000", "--duration", "2s",
		"--publishers", "3", "--rig", "../../../firmware-configs/zema-testrig.yaml", "--bundle", "../../../models/bundles/zema-testrig")
	require.Equal(t, ExitOK, code, "stderr: %s\nstdout: %s", stderr, stdout)

	var raw []map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw), stdout)
	require.NotEmpty(t, raw)
	for _, r := range raw {
		for _, k := range []string{"broker", "readings_per_s", "p99_ack_ms", "published", "acked", "stored", "lost", "rss_mb",
			"windows", "p50_infer_us", "p99_infer_us", "p50_infer_cpu_us", "p99_infer_cpu_us"} {
			assert.Contains(t, r, k)
		}
	}
	var res []ingestBenchResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	brokers := map[string]bool{}
	windows := 0
	for _, r := range res {
		windows += r.Windows
		brokers[r.Broker] = true
		assert.Greater(t, r.Published, int64(55000), "%s: about 2 s x 30,000 readings/s", r.Broker)
		assert.Equal(t, r.Published, r.Acked, r.Broker)
		assert.Equal(t, r.Acked, r.Stored, "%s: stored, as the agent's /status says", r.Broker)
		assert.Zero(t, r.Lost, r.Broker)
		assert.Zero(t, r.Rejected, r.Broker)
		assert.Greater(t, r.ReadingsPerS, 2000.0, r.Broker)
		assert.Greater(t, r.RSSMB, 10.0, r.Broker)
		assert.Positive(t, r.P99AckMs, r.Broker)
		assert.Positive(t, r.P50AckMs, r.Broker)
		assert.LessOrEqual(t, r.P50AckMs, r.P99AckMs*1.5, "%s: p50 (from /metrics buckets) about at most p99 (from /status)", r.Broker)
		assert.LessOrEqual(t, r.P50InferUs, r.P99InferUs, r.Broker)
		assert.LessOrEqual(t, r.P50InferCPUUs, r.P99InferCPUUs, r.Broker)
		t.Logf("%s: %d windows, infer p50/p99 %v/%v us, CPU %v/%v us", r.Broker, r.Windows, r.P50InferUs, r.P99InferUs, r.P50InferCPUUs, r.P99InferCPUUs)
		if r.Windows > 0 {
			assert.Positive(t, r.P50InferUs, r.Broker)
			assert.Positive(t, r.P50InferCPUUs, "%s: from the agent's rig_agent_inference_cpu_seconds", r.Broker)
			assert.Positive(t, r.P99InferCPUUs, r.Broker)
		}
	}
	assert.Positive(t, windows, "the first 60 s cycle diagnosed while ingesting (about 82 s simulated)")
	assert.True(t, brokers["embedded"], "the embedded broker always runs")
	if !brokers["mosquitto"] {
		t.Logf("no Mosquitto ran: %s", stderr)
	}
}

// buildAgent is rig-agent built from this checkout (agentBinary: once per
// test binary, not once per test).
func buildAgent(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to build rig-agent with")
	}
	return agentBinary.build(t)
}

// TestBenchIngestSparkplug: the excavator rig's ECU publishes Sparkplug
// B on one DDATA topic; the bench publishes it so (the shared codec's
// encoder, one seq per message for the edge node, on one of the two
// connections) at 2,000 readings/s for a second with the embedded
// broker, and the agent stores every reading with no rejection and no
// gap in the node's seq. Zema's topics as sparkplugb (--codec) are
// free-form topics: stored too.
func TestBenchIngestSparkplug(t *testing.T) {
	needORT(t)
	agent := buildAgent(t)
	for _, tc := range []struct {
		name, rig string
		extra     []string
	}{
		{"excavator", "excavator", nil},
		{"zema-codec-flag", "zema-testrig", []string{"--codec", "sparkplugb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "ingest", "--json", "--agent", agent, "--rate", "2000", "--duration", "1s",
				"--publishers", "2", "--brokers", "embedded", "--rig", "../../../firmware-configs/" + tc.rig + ".yaml",
				"--bundle", "../../../models/bundles/" + tc.rig}, tc.extra...)
			code, stdout, stderr := runBin(t, args...)
			require.Equal(t, ExitOK, code, "stderr: %s\nstdout: %s", stderr, stdout)
			var res []ingestBenchResult
			require.NoError(t, json.Unmarshal([]byte(stdout), &res), stdout)
			require.Len(t, res, 1)
			r := res[0]
			assert.Greater(t, r.Published, int64(1500), "about 1 s x 2,000 readings/s")
			assert.Equal(t, r.Published, r.Acked)
			assert.Equal(t, r.Acked, r.Stored)
			assert.Zero(t, r.Lost)
			assert.Zero(t, r.Rejected)
			assert.Zero(t, r.Gaps, "one seq per message per edge node, in order")
		})
	}
}

// TestPrefixTopics: free-form topics get the prefix as a first level,
// Sparkplug B topics before their group, so they stay Sparkplug B topics.
func TestPrefixTopics(t *testing.T) {
	in := "mqtt: {topic: spBv1.0/excavator/DDATA/ecu1/hydraulics, codec: sparkplugb}\n" +
		"mqtt: {topic: \"hydrognn/zema/ps\", codec: binary}\n    topic:   spBv1.0/g/NDATA/n\n"
	want := "mqtt: {topic: spBv1.0/P-excavator/DDATA/ecu1/hydraulics, codec: sparkplugb}\n" +
		"mqtt: {topic: \"P/hydrognn/zema/ps\", codec: binary}\n    topic:   spBv1.0/P-g/NDATA/n\n"
	assert.Equal(t, want, prefixTopics(in, "P"))
}

// TestBenchIngestUsage: bad flags are refused before anything starts.
func TestBenchIngestUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "0"},
		{"--brokers", "embedded,hivemq"},
		{"--codec", "xml"},
		{"extra"},
	} {
		code, _, stderr := run(t, append([]string{"bench", "ingest"}, args...)...)
		assert.Equal(t, ExitUsage, code, "%v: %s", args, stderr)
	}
	t.Setenv("ONNXRUNTIME_LIB", "")
	require.NoError(t, os.Unsetenv("ONNXRUNTIME_LIB"))
	code, _, stderr := run(t, "bench", "ingest", "--rate", "10")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "ONNXRUNTIME_LIB")
}

// TestMetricsQuantile: quantiles of a Prometheus histogram, interpolated
// inside the bucket as histogram_quantile does.
func TestMetricsQuantile(t *testing.T) {
	body := `# HELP rig_agent_ingest_ack_latency_seconds x
# TYPE rig_agent_ingest_ack_latency_seconds histogram
rig_agent_ingest_ack_latency_seconds_bucket{le="0.001"} 0
rig_agent_ingest_ack_latency_seconds_bucket{le="0.002"} 50
rig_agent_ingest_ack_latency_seconds_bucket{le="0.004"} 90
rig_agent_ingest_ack_latency_seconds_bucket{le="0.1"} 100
rig_agent_ingest_ack_latency_seconds_bucket{le="+Inf"} 100
rig_agent_ingest_ack_latency_seconds_sum 0.3
rig_agent_ingest_ack_latency_seconds_count 100
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(body)) }))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct{ q, want float64 }{{0.25, 0.0015}, {0.5, 0.002}, {0.7, 0.003}, {0.99, 0.0904}} {
		got, err := metricsQuantile(addr, "rig_agent_ingest_ack_latency_seconds", tc.q)
		require.NoError(t, err)
		assert.InDelta(t, tc.want, got, 1e-9, "q=%v", tc.q)
	}
	_, err := metricsQuantile(addr, "nope", 0.5)
	assert.ErrorContains(t, err, "no observations")

	for _, bad := range []string{
		"h_bucket{le=\"0.002\"} 5\nh_bucket{le=\"0.001\"} 6\n", // le descending
		"h_bucket{le=\"0.001\"} 6\nh_bucket{le=\"0.002\"} 5\n", // count decreasing
		"h_bucket{le=\"+Inf\"} NaN\n",
		"h_bucket{le=\"x\"} 1\n",
	} {
		_, err := histogramQuantile(strings.NewReader(bad), "h", 0.5)
		assert.Error(t, err, bad)
	}
}

// FuzzHistogramQuantile: histogramQuantile on any exposition text does not
// panic, and a quantile it returns is a finite number within the bounds
// the buckets give (0 or the lowest le, up to the highest finite le).
func FuzzHistogramQuantile(f *testing.F) {
	f.Add("h_bucket{le=\"0.001\"} 0\nh_bucket{le=\"0.002\"} 50\nh_bucket{le=\"+Inf\"} 100\n", 0.5)
	f.Add("h_bucket{le=\"+Inf\"} 3\n", 0.99)
	f.Add("h_bucket{le=\"-1\"} 1\nh_bucket{le=\"1e308\"} 2\n", 1.0)
	f.Add("# TYPE h histogram\nh_sum 1\nh_count 2\n", 0.5)
	f.Fuzz(func(t *testing.T, text string, q float64) {
		if q < 0 || q > 1 || math.IsNaN(q) {
			return
		}
		v, err := histogramQuantile(strings.NewReader(text), "h", q)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("quantile %v of %q: %v", q, text, v)
		}
	})
}

// TestInferenceMicros: the diagnoses' inference_us from /diagnoses and
// their nearest-rank quantiles.
func TestInferenceMicros(t *testing.T) {
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		query = r.URL.RequestURI()
		_, _ = w.Write([]byte(`{"diagnoses": [{"seq": 3, "inference_us": 90}, {"seq": 2, "inference_us": 70}, {"seq": 1, "inference_us": 2400}], "count": 3}`))
	}))
	defer srv.Close()
	us, err := inferenceMicros(strings.TrimPrefix(srv.URL, "http://"))
	require.NoError(t, err)
	assert.Equal(t, "/diagnoses?limit=1000&order=desc", query)
	assert.Equal(t, []int64{90, 70, 2400}, us)
	assert.Equal(t, int64(90), nearestRank(us, 0.5))
	assert.Equal(t, int64(2400), nearestRank(us, 0.99))
	assert.Equal(t, int64(70), nearestRank([]int64{70}, 0.99))
}

// TestThrowawayMosquitto: with no $MQTT_URL and nothing at the local
// address, the bench starts its own mosquitto on a free port and stops
// it afterwards.
func TestThrowawayMosquitto(t *testing.T) {
	if _, err := exec.LookPath("mosquitto"); err != nil && !fileExists("/usr/sbin/mosquitto") {
		testenv.Missing(t, testenv.Mosquitto, "no mosquitto binary (Debian: apt-get install mosquitto)")
		return
	}
	t.Setenv("MQTT_URL", "")
	port, err := freePort()
	require.NoError(t, err)
	old := localMosquitto
	localMosquitto = fmt.Sprintf("tcp://127.0.0.1:%d", port) // nothing listens there
	t.Cleanup(func() { localMosquitto = old })
	var errb strings.Builder
	u, stop, err := mosquittoFor(context.Background(), Env{Stderr: &errb}, "", t.TempDir())
	require.NoError(t, err)
	assert.Contains(t, errb.String(), "started a throwaway mosquitto on "+u)
	assert.NoError(t, dialBroker(u))
	stop()
	assert.Error(t, dialBroker(u), "stopped")
}
