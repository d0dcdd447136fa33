package service

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

const (
	firmwarePath = "../../../firmware-configs/zema-testrig.yaml"
	bundlePath   = "../../../models/bundles/zema-testrig"
)

// The end-to-end tests run the whole agent in process (config.Load,
// Start, Stop) with the shipped zema-testrig firmware config and bundle
// (topics prefixed per test, see isolatedRig), the real ONNX Runtime, and
// a real broker (embedded, and Mosquitto).

// needORT: see agenttest.NeedORT.
func needORT(tb testing.TB) { tb.Helper(); agenttest.NeedORT(tb) }

// mosquittoURL: see agenttest.MosquittoURL.
func mosquittoURL(tb testing.TB) string { return agenttest.MosquittoURL(tb) }

type testWriter struct {
	tb testing.TB
	mu sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&testWriter{tb: tb}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(&testWriter{tb: tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// isolatedRig writes into dir a copy of the zema-testrig firmware config
// whose topics start with prefix, and a copy of its bundle bound to it (the
// config digest is the only change), so that a test on a shared Mosquitto
// sees no other test's or tool's zema traffic. It returns both paths.
func isolatedRig(tb testing.TB, dir, prefix string) (fwPath, bundleDir string) {
	return isolatedRigFrom(tb, dir, prefix, firmwarePath, bundlePath)
}

// isolatedRigFrom is isolatedRig for another rig: its firmware config at
// fwSrc (topics under hydrognn/) and its bundle in bundleSrc.
func isolatedRigFrom(tb testing.TB, dir, prefix, fwSrc, bundleSrc string) (fwPath, bundleDir string) {
	tb.Helper()
	return agenttest.IsolatedRig(tb, dir, prefix, fwSrc, bundleSrc)
}

// writeConfig writes an agent config into dir, with an isolated copy of
// the zema-testrig config and bundle (see isolatedRig), and returns its
// path. brokerURL "" means an embedded broker on a free port. Windows
// close 1 s after their end (windowing.lateness); see writeConfigLateness.
func writeConfig(tb testing.TB, dir, agentID, brokerURL string) string {
	return writeConfigLateness(tb, dir, agentID, brokerURL, "1s")
}

// writeConfigLateness is writeConfig with windowing.lateness. The tests
// publish cycles minutes old, so with a short lateness a window closes by
// the wall clock as soon as its readings pause for that long (a loaded
// machine or a busy shared broker can do that mid-cycle), and is
// diagnosed from part of its readings. A lateness longer than the test
// leaves only the data to close windows: a reading at or after a window's
// end + lateness (see publishAt).
func writeConfigLateness(tb testing.TB, dir, agentID, brokerURL, lateness string) string {
	tb.Helper()
	fwPath, bundleDir := isolatedRig(tb, dir, agentID)
	return writeConfigFor(tb, dir, agentID, brokerURL, lateness, fwPath, bundleDir)
}

// writeConfigFor writes an agent config for the firmware config and
// bundle given (see isolatedRigFrom).
func writeConfigFor(tb testing.TB, dir, agentID, brokerURL, lateness, fwPath, bundleDir string) string {
	tb.Helper()
	brokerSection := "  embedded: true\n  listen: 127.0.0.1:0\n"
	if brokerURL != "" {
		brokerSection = "  url: " + brokerURL + "\n"
	}
	yaml := fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
broker:
%swindowing:
  cycle_anchor: epoch # rigsim's cycles
  lateness: %s
api:
  listen: 127.0.0.1:0
logging:
  format: text
`, agentID, filepath.Join(dir, "data"), fwPath, bundleDir, brokerSection, lateness)
	path := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(tb, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

func startAgent(tb testing.TB, cfgPath string) *Agent {
	tb.Helper()
	cfg, err := config.Load(cfgPath)
	require.NoError(tb, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, Options{Version: "test", Logger: testLogger(tb)})
	require.NoError(tb, err)
	tb.Cleanup(func() { stopAgent(tb, a) })
	waitFor(tb, 15*time.Second, "agent ready", func() bool { return len(a.NotReady()) == 0 })
	return a
}

func stopAgent(tb testing.TB, a *Agent) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	assert.NoError(tb, a.Stop(ctx))
}

func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gateway publishes the zema rig's readings as its gateways would: one
// message per topic and second (1 Hz per sensor: enough for the model's
// 1 Hz grid, and quick).
type gateway struct {
	c     mqtt.Client
	fw    *rig.Config
	means map[string]float64
	seq   map[string]uint64
}

func newGateway(tb testing.TB, brokerURL, fwPath string) *gateway {
	tb.Helper()
	return newGatewayFor(tb, brokerURL, fwPath, bundlePath)
}

// newGatewayFor is newGateway for another rig: its firmware config at
// fwPath, the sensor means from the bundle in bundleDir.
func newGatewayFor(tb testing.TB, brokerURL, fwPath, bundleDir string) *gateway {
	tb.Helper()
	fw, err := rig.Load(fwPath)
	require.NoError(tb, err)
	man, err := bundle.Load(bundleDir)
	require.NoError(tb, err)
	g := &gateway{fw: fw, means: map[string]float64{}, seq: map[string]uint64{}}
	for _, s := range man.Input.Sensors {
		g.means[s.ID] = s.Mean
	}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("gw-%d-%d", os.Getpid(), time.Now().UnixNano())).
		SetCleanSession(true).SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
	g.c = mqtt.NewClient(o)
	tok := g.c.Connect()
	require.True(tb, tok.WaitTimeout(10*time.Second))
	require.NoError(tb, tok.Error())
	tb.Cleanup(func() { g.c.Disconnect(100) })
	return g
}

// publishCycle publishes the 60 s cycle starting at start; skip leaves a
// sensor's reading of second k out.
func (g *gateway) publishCycle(tb testing.TB, start time.Time, skip func(sensor string, k int) bool) {
	tb.Helper()
	var toks []mqtt.Token
	for k := range 60 {
		byTopic := map[string][]reading.Reading{}
		var topics []string
		for _, s := range g.fw.Sensors {
			if s.Inactive || (skip != nil && skip(s.ID, k)) {
				continue
			}
			g.seq[s.ID]++
			v := g.means[s.ID] * (1 + 0.01*math.Sin(float64(k)/7))
			r := reading.Reading{Sensor: s.ID, Time: start.Add(time.Duration(k)*time.Second + 250*time.Millisecond), Value: v, Seq: g.seq[s.ID]}
			if _, ok := byTopic[s.MQTT.Topic]; !ok {
				topics = append(topics, s.MQTT.Topic)
			}
			byTopic[s.MQTT.Topic] = append(byTopic[s.MQTT.Topic], r)
		}
		for _, topic := range topics {
			rs := byTopic[topic]
			var name string
			for _, s := range g.fw.Sensors {
				if s.MQTT.Topic == topic {
					name = s.MQTT.Codec
				}
			}
			c, err := codec.Lookup(name)
			require.NoError(tb, err)
			payload, err := c.Encode(nil, rs)
			require.NoError(tb, err, "encode %s", name)
			toks = append(toks, g.c.Publish(topic, 1, false, payload))
		}
	}
	for _, tok := range toks {
		require.True(tb, tok.WaitTimeout(20*time.Second), "publish acknowledged")
		require.NoError(tb, tok.Error())
	}
}

// publishAt publishes one reading of the first active sensor at t, and
// waits for the broker's acknowledgement: with the rig's messages
// delivered in order, it moves the agent's watermark past every earlier
// window.
func (g *gateway) publishAt(tb testing.TB, t time.Time) {
	tb.Helper()
	for _, s := range g.fw.Sensors {
		if s.Inactive {
			continue
		}
		c, err := codec.Lookup(s.MQTT.Codec)
		require.NoError(tb, err)
		g.seq[s.ID]++
		payload, err := c.Encode(nil, []reading.Reading{{Sensor: s.ID, Time: t, Value: g.means[s.ID], Seq: g.seq[s.ID]}})
		require.NoError(tb, err)
		tok := g.c.Publish(s.MQTT.Topic, 1, false, payload)
		require.True(tb, tok.WaitTimeout(20*time.Second), "publish acknowledged")
		require.NoError(tb, tok.Error())
		return
	}
}

// subscriber collects the diagnoses published on a topic.
type subscriber struct {
	mu  sync.Mutex
	got []diag.Diagnosis
	bad []string
}

func subscribe(tb testing.TB, brokerURL, topic string) *subscriber {
	tb.Helper()
	s := &subscriber{}
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("hmi-%d-%d", os.Getpid(), time.Now().UnixNano())).
		SetCleanSession(true).SetProtocolVersion(4).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(tb, tok.WaitTimeout(10*time.Second))
	require.NoError(tb, tok.Error())
	tok = c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		var d diag.Diagnosis
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := json.Unmarshal(m.Payload(), &d); err != nil {
			s.bad = append(s.bad, string(m.Payload()))
			return
		}
		s.got = append(s.got, d)
	})
	require.True(tb, tok.WaitTimeout(10*time.Second))
	require.NoError(tb, tok.Error())
	tb.Cleanup(func() { c.Disconnect(100) })
	return s
}

func (s *subscriber) diagnoses() []diag.Diagnosis {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.got)
}

func getJSON(tb testing.TB, addr, path string, v any) int {
	tb.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	if v != nil {
		require.NoError(tb, json.Unmarshal(body, v), "body of %s: %s", path, body)
	}
	return resp.StatusCode
}

func getText(tb testing.TB, addr, path string) string {
	tb.Helper()
	resp, err := http.Get("http://" + addr + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return string(body)
}

// cycleStart is the start of a 60 s cycle (a multiple of 60 s since the
// epoch, the default cycle anchor) some minutes ago.
func cycleStart(minutesAgo int) time.Time {
	return time.Now().UTC().Truncate(time.Minute).Add(-time.Duration(minutesAgo) * time.Minute)
}

func waitDiagnoses(tb testing.TB, addr string, n int) api.DiagnosesPage {
	tb.Helper()
	var page api.DiagnosesPage
	waitFor(tb, 30*time.Second, fmt.Sprintf("%d diagnoses on /diagnoses", n), func() bool {
		page = api.DiagnosesPage{}
		getJSON(tb, addr, "/diagnoses?limit=100", &page)
		return page.Count >= n
	})
	return page
}

func TestEndToEnd(t *testing.T) {
	needORT(t)
	for _, tc := range []struct {
		name   string
		broker func(tb testing.TB) string // "" : embedded
	}{
		{"embedded", func(testing.TB) string { return "" }},
		{"mosquitto", mosquittoURL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			brokerURL := tc.broker(t)
			agentID := fmt.Sprintf("e2e-%s-%d", tc.name, time.Now().UnixNano()%1_000_000_000)
			dir := t.TempDir()
			// Windows close only by the data (see writeConfigLateness):
			// lateness 5m, cycles 15 minutes old, and a last reading 5
			// minutes after the third cycle's end closes all three.
			cfgPath := writeConfigLateness(t, dir, agentID, brokerURL, "5m")
			if brokerURL != "" {
				// Registered before startAgent, so it runs after the
				// agent stopped: a connection with the agent's client id
				// while it runs takes its session over.
				t.Cleanup(func() { cleanSession(brokerURL, "rig-agent-"+agentID) })
			}
			a := startAgent(t, cfgPath)
			if brokerURL == "" {
				brokerURL = a.BrokerURL()
			}
			addr := a.APIAddr()
			var rd map[string]any
			require.Equal(t, http.StatusOK, getJSON(t, addr, "/health/ready", &rd), "ready: %v", rd)
			require.Equal(t, http.StatusNotFound, getJSON(t, addr, "/diagnoses/latest", nil))

			sub := subscribe(t, brokerURL, "hydrognn/agents/"+agentID+"/diagnoses")
			gw := newGateway(t, brokerURL, filepath.Join(dir, "zema-testrig.yaml"))
			t0 := cycleStart(15)
			gw.publishCycle(t, t0, nil)
			gw.publishCycle(t, t0.Add(time.Minute), func(s string, _ int) bool { return s == "VS1" })              // VS1 missing
			gw.publishCycle(t, t0.Add(2*time.Minute), func(s string, k int) bool { return s == "TS1" && k >= 30 }) // TS1 stale
			gw.publishAt(t, t0.Add(8*time.Minute))                                                                 // window 9: stays open

			page := waitDiagnoses(t, addr, 3)
			require.Equal(t, 3, page.Count)
			for i, d := range page.Diagnoses {
				assert.Equal(t, uint64(i+1), d.Seq)
				assert.Equal(t, agentID, d.AgentID)
				assert.Equal(t, "zema-rig-1", d.RigID)
				assert.True(t, t0.Add(time.Duration(i)*time.Minute).Equal(d.Window.Start), "window %d at %v", i, d.Window.Start)
				assert.Len(t, d.Components, len(gw.fw.Components))
				assert.NotEmpty(t, d.Targets)
				assert.Positive(t, d.InferenceMicros)
				assert.Equal(t, "1.0.0", d.Model.Version)
			}
			assert.Empty(t, page.Diagnoses[0].Window.Missing)
			assert.Contains(t, page.Diagnoses[1].Window.Missing, "VS1", "a silent sensor is flagged")
			assert.Contains(t, page.Diagnoses[2].Window.Stale, "TS1", "a sensor that stopped mid-window is flagged")
			var masked bool
			for _, s := range page.Diagnoses[1].Sensors {
				if s.ID == "VS1" {
					masked = s.Masked
				}
			}
			assert.True(t, masked, "the missing sensor's anomaly score is masked")

			var latest diag.Diagnosis
			require.Equal(t, http.StatusOK, getJSON(t, addr, "/diagnoses/latest", &latest))
			assert.Equal(t, uint64(3), latest.Seq)

			waitFor(t, 10*time.Second, "3 diagnoses on MQTT", func() bool { return len(sub.diagnoses()) >= 3 })
			var seqs []uint64
			for _, d := range sub.diagnoses() {
				seqs = append(seqs, d.Seq)
			}
			assert.Equal(t, []uint64{1, 2, 3}, seqs)
			assert.Empty(t, sub.bad)

			var st api.StatusBody
			require.Equal(t, http.StatusOK, getJSON(t, addr, "/status", &st))
			assert.True(t, st.Ready)
			assert.True(t, st.Broker.Connected)
			assert.Equal(t, uint64(3), st.Windowing.Diagnosed)
			assert.Equal(t, uint64(3), st.Diagnoses.LastSeq)
			assert.Equal(t, uint64(3*60*17-60-30+1), st.Ingest.Readings)
			assert.Empty(t, st.Ingest.Rejected)
			require.NotNil(t, st.Publish)
			assert.Equal(t, uint64(3), st.Publish.Published)

			var b api.BundleBody
			require.Equal(t, http.StatusOK, getJSON(t, addr, "/bundle", &b))
			assert.Equal(t, "zema-testrig", b.Name)
			assert.Equal(t, "cycle", b.WindowAlignment)

			m := getText(t, addr, "/metrics")
			for _, want := range []string{
				`rig_agent_windows_total{result="diagnosed"} 3`,
				`rig_agent_inference_latency_seconds_count 3`,
				`rig_agent_inference_cpu_seconds_count 3`,
				`rig_agent_ingest_connected 1`,
				`rig_agent_publish_total{result="published"} 3`,
				`rig_agent_ready 1`,
				`rig_agent_cloud_link_up 0`,
				`rig_agent_buffer_readings 2971`,
				`rig_agent_windows_pending 1`,
				`rig_agent_window_late_readings_total 0`,
				`rig_agent_ingest_ack_latency_seconds_count`,
			} {
				assert.Contains(t, m, want)
			}
		})
	}
}

func TestRestartKeepsSeqAndHistory(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "restart-1", "")
	a := startAgent(t, cfgPath)
	gw := newGateway(t, a.BrokerURL(), filepath.Join(dir, "zema-testrig.yaml"))
	t0 := cycleStart(6)
	gw.publishCycle(t, t0, nil)
	gw.publishCycle(t, t0.Add(time.Minute), nil)
	waitDiagnoses(t, a.APIAddr(), 2)
	stopAgent(t, a)

	a = startAgent(t, cfgPath)
	gw = newGateway(t, a.BrokerURL(), filepath.Join(dir, "zema-testrig.yaml"))
	gw.publishCycle(t, t0.Add(2*time.Minute), nil)
	page := waitDiagnoses(t, a.APIAddr(), 3)
	require.Equal(t, 3, page.Count)
	for i, d := range page.Diagnoses {
		assert.Equal(t, uint64(i+1), d.Seq, "Seq keeps increasing across the restart")
		assert.True(t, t0.Add(time.Duration(i)*time.Minute).Equal(d.Window.Start))
	}
	var mid api.DiagnosesPage
	q := url.Values{"from": {t0.Add(30 * time.Second).Format(time.RFC3339)}, "to": {t0.Add(2 * time.Minute).Format(time.RFC3339)}}
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/diagnoses?"+q.Encode(), &mid))
	require.Equal(t, 1, mid.Count)
	assert.Equal(t, uint64(2), mid.Diagnoses[0].Seq)
}

func TestStartRefusesDamagedFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		want error
	}{
		{"buffer.db", buffer.ErrCorrupt},
		{"diagnoses.db", history.ErrCorrupt},
		{"outbox.db", forward.ErrCorrupt},
	} {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := writeConfig(t, dir, "damaged-1", "")
			if tc.file == "outbox.db" { // the forwarder's file: with a cloud link
				cred := filepath.Join(dir, "credential")
				require.NoError(t, os.WriteFile(cred, []byte("token\n"), 0o600))
				appendConfig(t, cfgPath, fmt.Sprintf("cloud:\n  url: http://127.0.0.1:9\n  credential_file: %s\n", cred))
			}
			path := filepath.Join(dir, "data", tc.file)
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o750))
			garbage := []byte(strings.Repeat("not a bbolt file ", 1000))
			require.NoError(t, os.WriteFile(path, garbage, 0o600))
			cfg, err := config.Load(cfgPath)
			require.NoError(t, err)
			_, err = Start(context.Background(), cfg, Options{Logger: testLogger(t)})
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "want %v, got %v", tc.want, err)
			assert.Contains(t, err.Error(), "mv "+path+" "+path+".corrupt-", "the error names the recovery command")
			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, garbage, after, "the damaged file is never wiped")
		})
	}
}

func cleanSession(brokerURL, clientID string) {
	o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(50)
	}
}

// TestBadInputKeepsRunning: garbage, wrong types, a NaN, a future time and
// an unknown sensor on the rig's topics are rejected with their reason
// (counted in /status and /metrics, listed on /rejections), and the agent
// goes on storing and diagnosing the good readings around them.
func TestBadInputKeepsRunning(t *testing.T) {
	needORT(t)
	old := clockSynced
	clockSynced = func() bool { return true } // future_time, whatever the test machine's kernel says
	t.Cleanup(func() { clockSynced = old })
	dir := t.TempDir()
	const id = "badinput-1"
	a := startAgent(t, writeConfigLateness(t, dir, id, "", "5m"))
	gw := newGateway(t, a.BrokerURL(), filepath.Join(dir, "zema-testrig.yaml"))
	t0 := cycleStart(15)
	ts := t0.Add(10 * time.Second).Format(time.RFC3339)
	bin, err := codec.Lookup("binary")
	require.NoError(t, err)
	// The encoder refuses NaN; a gateway's bug need not: patch the value
	// (little endian) and the frame's CRC-32C trailer.
	nan, err := bin.Encode(nil, []reading.Reading{{Sensor: "PS1", Time: t0.Add(10 * time.Second), Value: 1, Seq: 1000}})
	require.NoError(t, err)
	one := binary.LittleEndian.AppendUint64(nil, math.Float64bits(1))
	i := bytes.Index(nan, one)
	require.GreaterOrEqual(t, i, 0, "the value's bytes in the frame")
	binary.LittleEndian.PutUint64(nan[i:], math.Float64bits(math.NaN()))
	binary.LittleEndian.PutUint32(nan[len(nan)-4:], crc32.Checksum(nan[:len(nan)-4], crc32.MakeTable(crc32.Castagnoli)))
	pre := id + "/hydrognn/zema/"
	bad := []struct {
		topic, payload string
	}{
		{pre + "daq/fast", "\x00garbage{"},                                                                    // malformed
		{pre + "virtual/CE", `{"v":"high","ts":"` + ts + `"}`},                                                // wrong type
		{pre + "virtual/CE", `{"v":2.5,"ts":"` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"}`}, // future
		{pre + "daq/slow", `{"readings":[{"sensor":"XX9","v":1,"ts":"` + ts + `"}]}`},                         // unknown sensor
		{pre + "daq/fast", string(nan)},                                                                       // NaN: the binary codec refuses it (malformed)
	}
	for _, b := range bad {
		tok := gw.c.Publish(b.topic, 1, false, []byte(b.payload))
		require.True(t, tok.WaitTimeout(20*time.Second))
		require.NoError(t, tok.Error())
	}
	gw.publishCycle(t, t0, nil)
	gw.publishAt(t, t0.Add(6*time.Minute)) // closes the cycle's window by the data
	page := waitDiagnoses(t, a.APIAddr(), 1)
	assert.Empty(t, page.Diagnoses[0].Window.Missing)
	assert.Empty(t, page.Diagnoses[0].Window.Stale)

	var st api.StatusBody
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/status", &st))
	assert.True(t, st.Ready)
	assert.Equal(t, map[string]uint64{"malformed": 3, "future_time": 1, "unknown_sensor": 1}, st.Ingest.Rejected)
	assert.Equal(t, uint64(60*17+1), st.Ingest.Readings, "every good reading stored")
	var rej api.RejectionsBody
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/rejections", &rej))
	reasons, nanSeen := map[string]int{}, false
	for _, r := range rej.Rejections {
		reasons[r.Reason]++
		assert.NotEmpty(t, r.Detail, "%+v", r)
		assert.True(t, strings.HasPrefix(r.Topic, pre), "%+v", r)
		nanSeen = nanSeen || strings.Contains(r.Detail, "NaN")
	}
	assert.Equal(t, map[string]int{"malformed": 3, "future_time": 1, "unknown_sensor": 1}, reasons)
	assert.True(t, nanSeen, "the NaN frame's rejection says why: %+v", rej.Rejections)
	m := getText(t, a.APIAddr(), "/metrics")
	assert.Contains(t, m, `rig_agent_ingest_rejected_total{reason="malformed"} 3`)
	assert.Contains(t, m, `rig_agent_ingest_rejected_total{reason="future_time"} 1`)
	// The disk space of the directories it writes, one series per role
	// (all under data_dir here; no update.url, so no updates role), all
	// on one file system (one dev).
	data := filepath.Join(dir, "data")
	dev, err := diskspace.Stat(data)
	require.NoError(t, err)
	for _, role := range []string{DiskData, DiskStore, DiskHistory} {
		series := `{dir="` + role + `",path="` + data + `"}`
		assert.Contains(t, m, "rig_agent_disk_free_bytes"+series+" ")
		assert.Contains(t, m, "rig_agent_disk_size_bytes"+series+" ")
		assert.Contains(t, m, "rig_agent_disk_stat_errors_total"+series+" 0\n")
		assert.Contains(t, m, `rig_agent_disk_info{dev="`+dev.Device+`",dir="`+role+`",path="`+data+`"} 1`+"\n")
	}
	assert.NotContains(t, m, `rig_agent_disk_free_bytes{dir="updates"`)
}
