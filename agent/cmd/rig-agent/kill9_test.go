package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/childproc"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// childEnv makes the test binary run as rig-agent (TestMain), so that a
// test can run the real command as a subprocess and kill it.
const childEnv = "HYDROGNN_TEST_RUN_AS_RIG_AGENT" // not RIG_AGENT_*: the config refuses unknown ones

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if os.Getenv(blockingStartEnv) == "1" {
			startAgent = blockingStart(true)
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// mosquittoURL: a real Mosquitto keeps the agent's persistent session
// while the agent is dead (agenttest.MosquittoURL; skips without one).
func mosquittoURL(tb testing.TB) string { return agenttest.MosquittoURL(tb) }

// needORT: see agenttest.NeedORT.
func needORT(tb testing.TB) { tb.Helper(); agenttest.NeedORT(tb) }

func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	defer l.Close()
	return l.Addr().String()
}

// isolatedRig writes into dir a copy of the zema-testrig firmware config
// whose topics start with prefix, and a copy of its bundle bound to it,
// so that other zema traffic on a shared Mosquitto cannot reach this
// test's agent (agenttest.IsolatedRig).
func isolatedRig(tb testing.TB, dir, prefix string) (fwPath, bundleDir string) {
	tb.Helper()
	return agenttest.IsolatedRig(tb, dir, prefix, "../../../firmware-configs/zema-testrig.yaml", "../../../models/bundles/zema-testrig")
}

// child is rig-agent running as a subprocess (the test binary, see
// TestMain).
type child struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

func startChild(tb testing.TB, cfgPath, api, logPath string) *child {
	tb.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(tb, err)
	cmd := exec.Command(os.Args[0], "--config", cfgPath)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	childproc.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(tb, cmd.Start())
	c := &child{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { c.done <- cmd.Wait(); logf.Close() }()
	tb.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := http.Get("http://" + api + "/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case err := <-c.done:
			tb.Fatalf("rig-agent exited before it was ready (%v):\n%s", err, readLog(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			tb.Fatalf("rig-agent not ready after 60 s:\n%s", readLog(logPath))
		}
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

type status struct {
	Ingest struct {
		Readings uint64            `json:"readings"`
		InFlight int               `json:"in_flight"`
		Rejected map[string]uint64 `json:"rejected"`
	} `json:"ingest"`
	Buffer struct {
		LastSeq uint64 `json:"last_seq"`
	} `json:"buffer"`
}

func getStatus(tb testing.TB, api string) status {
	tb.Helper()
	var st status
	resp, err := http.Get("http://" + api + "/status")
	require.NoError(tb, err)
	defer resp.Body.Close()
	require.NoError(tb, json.NewDecoder(resp.Body).Decode(&st))
	return st
}

// kill9Key names one published reading.
type kill9Key struct {
	sensor string
	seq    uint64
}

// kill9Value is the value of a sensor's reading seq: the test checks it
// byte for byte after the restarts.
func kill9Value(seq uint64) float64 { return 10 + float64(seq%9973)/100 }

// TestKill9UnderLoad: rig-agent (a subprocess) ingests from Mosquitto
// with a persistent session at QoS 1 while two gateways publish
// continuously (binary, 7 sensors, up to 14,000 readings/s); it is killed
// with SIGKILL three times mid-load, at random moments, and started again
// while the gateways go on. The
// agent acknowledges a message only after its readings are fsynced, so a
// message it acknowledged is in its buffer and one it did not is
// delivered again by Mosquitto to the resumed session; messages published
// while it was dead wait in the session. After the last start every
// reading the broker acknowledged to a gateway is stored exactly once:
// checked by reading the buffer file after a clean stop. Skipped without
// a reachable Mosquitto.
func TestKill9UnderLoad(t *testing.T) {
	needORT(t)
	brokerURL := mosquittoURL(t)
	dir := t.TempDir()
	id := fmt.Sprintf("kill9-%d", time.Now().UnixNano()%1_000_000_000)
	fwPath, bundleDir := isolatedRig(t, dir, id)
	api := freeAddr(t)
	clientID := "rig-agent-" + id
	cfgPath := filepath.Join(dir, "rig-agent.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
broker:
  url: %s
  client_id: %s
windowing:
  cycle_anchor: epoch # rigsim's cycles
api:
  listen: %s
diagnoses:
  publish: false
logging:
  level: warn
  format: text
`, id, filepath.Join(dir, "data"), fwPath, bundleDir, brokerURL, clientID, api)), 0o600))
	t.Cleanup(func() { // the persistent session would otherwise stay in a shared broker
		o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(clientID).SetCleanSession(true).SetProtocolVersion(4)
		c := mqtt.NewClient(o)
		if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			c.Disconnect(100)
		}
	})
	logPath := filepath.Join(dir, "rig-agent.log")
	fw, err := rig.Load(fwPath)
	require.NoError(t, err)
	var topic string
	var fast []string
	for _, s := range fw.Sensors {
		if s.MQTT.Codec == codec.NameBinary {
			topic = s.MQTT.Topic
			fast = append(fast, s.ID)
		}
	}
	require.Len(t, fast, 7, "the zema rig's binary (100 Hz) sensors")
	bin, err := codec.Lookup(codec.NameBinary)
	require.NoError(t, err)

	a := startChild(t, cfgPath, api, logPath)

	// Two gateways, each with its own sensors, publish a message of 10
	// readings per sensor every 5 ms until stop is closed.
	base := time.Now().UTC().Add(-10 * time.Minute).Truncate(time.Minute)
	stop := make(chan struct{})
	var (
		mu      sync.Mutex
		acked   = map[kill9Key]bool{}
		pubErrs []error
		wg      sync.WaitGroup
	)
	for g, sensors := range [][]string{fast[:4], fast[4:]} {
		o := mqtt.NewClientOptions().AddBroker(brokerURL).SetClientID(fmt.Sprintf("%s-gw%d", id, g)).
			SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
		c := mqtt.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
		t.Cleanup(func() { c.Disconnect(100) })
		type pending struct {
			tok  mqtt.Token
			keys []kill9Key
		}
		acks := make(chan pending, 512)
		wg.Go(func() {
			for p := range acks {
				ok := p.tok.WaitTimeout(30 * time.Second)
				mu.Lock()
				switch {
				case !ok:
					pubErrs = append(pubErrs, fmt.Errorf("gateway %d: no PUBACK in 30 s", g))
				case p.tok.Error() != nil:
					pubErrs = append(pubErrs, fmt.Errorf("gateway %d: %w", g, p.tok.Error()))
				default:
					for _, k := range p.keys {
						acked[k] = true
					}
				}
				mu.Unlock()
			}
		})
		wg.Go(func() {
			defer close(acks)
			var seq uint64
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			var payload []byte
			rs := make([]reading.Reading, 0, 10*len(sensors))
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				rs = rs[:0]
				keys := make([]kill9Key, 0, cap(rs))
				for range 10 {
					seq++
					for _, s := range sensors {
						rs = append(rs, reading.Reading{Sensor: s, Time: base.Add(time.Duration(seq) * time.Millisecond),
							Value: kill9Value(seq), Seq: seq})
						keys = append(keys, kill9Key{s, seq})
					}
				}
				var err error
				payload, err = bin.Encode(payload[:0], rs)
				if err != nil {
					mu.Lock()
					pubErrs = append(pubErrs, err)
					mu.Unlock()
					return
				}
				acks <- pending{c.Publish(topic, 1, false, append([]byte(nil), payload...)), keys}
			}
		})
	}
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	t.Cleanup(stopLoad)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	duplicates := uint64(0) // redelivered readings recognised as stored, as far as /status saw them
	for round := range 3 {
		// Load until the agent has stored some, then a random moment more.
		for getStatus(t, api).Buffer.LastSeq == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Duration(100+rng.IntN(700)) * time.Millisecond)
		st := getStatus(t, api)
		duplicates += st.Ingest.Rejected["duplicate"]
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
		<-a.done
		t.Logf("round %d: SIGKILL with %d readings stored, %d messages in flight", round, st.Buffer.LastSeq, st.Ingest.InFlight)
		time.Sleep(300 * time.Millisecond) // the gateways go on; Mosquitto queues for the session
		a = startChild(t, cfgPath, api, logPath)
	}
	time.Sleep(500 * time.Millisecond)
	stopLoad()

	mu.Lock()
	require.Empty(t, pubErrs, "every publish acknowledged by Mosquitto")
	want := len(acked)
	mu.Unlock()
	require.Greater(t, want, 1000, "the gateways published under load")
	deadline := time.Now().Add(20 * time.Second)
	for st := getStatus(t, api); st.Buffer.LastSeq < uint64(want); st = getStatus(t, api) {
		if time.Now().After(deadline) {
			t.Fatalf("after the restarts the agent stored %d of %d acknowledged readings", st.Buffer.LastSeq, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := getStatus(t, api)
	for reason, n := range st.Ingest.Rejected {
		assert.Equal(t, "duplicate", reason, "only redelivered duplicates are rejected; %d %s", n, reason)
	}
	duplicates += st.Ingest.Rejected["duplicate"]
	t.Logf("after the restarts: %d readings acknowledged to the gateways, %d stored, at least %d redelivered readings recognised as duplicates",
		want, st.Buffer.LastSeq, duplicates)
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-a.done:
		require.NoError(t, err, "clean stop:\n%s", readLog(logPath))
	case <-time.After(30 * time.Second):
		t.Fatal("rig-agent did not stop after SIGTERM")
	}

	// Every acknowledged reading is in the buffer exactly once, with its
	// value; nothing else is.
	ctx := context.Background()
	buf, err := buffer.Open(ctx, filepath.Join(dir, "data", "buffer.db"), buffer.Options{})
	require.NoError(t, err)
	defer buf.Close()
	seen := make(map[kill9Key]int, want)
	var bad []string
	require.NoError(t, buf.Scan(ctx, 0, func(r buffer.Record) error {
		k := kill9Key{r.Reading.Sensor, r.Reading.Seq}
		seen[k]++
		if r.Reading.Value != kill9Value(k.seq) || !r.Reading.Time.Equal(base.Add(time.Duration(k.seq)*time.Millisecond)) {
			bad = append(bad, fmt.Sprintf("%v: %v at %s", k, r.Reading.Value, r.Reading.Time))
		}
		return nil
	}))
	assert.Empty(t, bad, "stored readings hold what was published")
	var missing, dup int
	for k := range acked {
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	assert.Zero(t, missing, "acknowledged readings missing from the buffer")
	assert.Zero(t, dup, "readings stored more than once")
	assert.Equal(t, want, len(seen), "the buffer holds exactly the acknowledged readings")
	assert.Equal(t, uint64(want), buf.LastSeq(), "one sequence number per stored reading")
}
