package service

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// freePort returns a TCP port on 127.0.0.1 free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(tb, l.Close())
	return port
}

// A gateway that connects as soon as the embedded broker accepts
// connections (a gateway reconnecting after the agent's restart, with a
// backlog) must lose nothing the broker acknowledged: mochi-mqtt
// acknowledges a QoS 1 message with no subscriber and drops it, so the
// broker must not let it publish before the ingest subscribed.
func TestEmbeddedBrokerEarlyGatewayLosesNothing(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	fwPath, bundleDir := isolatedRig(t, dir, "early-gw")
	cfgPath := writeConfigFor(t, dir, "early-gw", "", "1s", fwPath, bundleDir)
	port := strconv.Itoa(freePort(t))
	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	b = bytes.Replace(b, []byte("  embedded: true\n  listen: 127.0.0.1:0\n"), []byte("  embedded: true\n  listen: 127.0.0.1:"+port+"\n"), 1)
	require.NoError(t, os.WriteFile(cfgPath, b, 0o600))

	fw, err := rig.Load(fwPath)
	require.NoError(t, err)
	var sensor rig.Sensor
	for _, s := range fw.Sensors {
		if !s.Inactive {
			sensor = s
			break
		}
	}
	c, err := codec.Lookup(sensor.MQTT.Codec)
	require.NoError(t, err)

	const n = 300
	acked := make(chan int, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		var cl mqtt.Client
		for {
			o := mqtt.NewClientOptions().AddBroker("tcp://127.0.0.1:" + port).SetClientID(fmt.Sprintf("early-gw-%d", os.Getpid())).
				SetCleanSession(true).SetProtocolVersion(4).SetConnectTimeout(2 * time.Second).SetAutoReconnect(false)
			cl = mqtt.NewClient(o)
			tok := cl.Connect()
			if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				break
			}
			select {
			case <-stop:
				acked <- -1
				return
			case <-time.After(time.Millisecond):
			}
		}
		defer cl.Disconnect(100)
		start := cycleStart(10)
		toks := make([]mqtt.Token, n)
		for k := range n {
			payload, err := c.Encode(nil, []reading.Reading{{Sensor: sensor.ID, Time: start.Add(time.Duration(k) * time.Second),
				Value: 1, Seq: uint64(k + 1)}})
			if err != nil {
				panic(err)
			}
			toks[k] = cl.Publish(sensor.MQTT.Topic, 1, false, payload)
		}
		got := 0
		for _, tok := range toks {
			if tok.WaitTimeout(20*time.Second) && tok.Error() == nil {
				got++
			}
		}
		acked <- got
	}()

	a := startAgent(t, cfgPath)
	var got int
	select {
	case got = <-acked:
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway never finished publishing")
	}
	require.Positive(t, got, "the gateway's publishes were acknowledged")
	deadline := time.Now().Add(20 * time.Second)
	for a.buf.LastSeq() < uint64(got) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	require.GreaterOrEqual(t, a.buf.LastSeq(), uint64(got),
		"every reading the broker acknowledged is stored (broker stats %+v)", a.brk.Stats())
}

// A drain the ingest cannot complete (here its buffer fails every Append:
// it never acknowledges) must not use Stop's whole time: the steps after
// it (ingest, windowing, sinks, closers) would find the deadline passed
// and systemd would kill the process.
func TestStopDrainEndsWhenIngestRefuses(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	fwPath, bundleDir := isolatedRig(t, dir, "stop-refuse")
	cfg, err := config.Load(writeConfigFor(t, dir, "stop-refuse", "", "1s", fwPath, bundleDir))
	require.NoError(t, err)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := Start(sctx, cfg, Options{Version: "test", Logger: testLogger(t)})
	require.NoError(t, err)
	waitFor(t, 15*time.Second, "agent ready", func() bool { return len(a.NotReady()) == 0 })

	require.NoError(t, a.buf.Close()) // every Append fails from now on
	g := newGatewayFor(t, a.BrokerURL(), fwPath, bundleDir)
	g.publishAt(t, cycleStart(5))
	waitFor(t, 15*time.Second, "a store error", func() bool { return a.in.Stats().StoreErrors > 0 })

	ctx, cancelStop := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelStop()
	err = a.Stop(ctx)
	require.NoError(t, ctx.Err(), "Stop used its whole time (err: %v)", err)
	require.Error(t, err, "the drain was incomplete")
	require.NotContains(t, err.Error(), "did not stop in time")
}

// withBroker replaces the embedded broker section of the config at path.
func withBroker(tb testing.TB, path, section string) {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	old := []byte("  embedded: true\n  listen: 127.0.0.1:0\n")
	require.True(tb, bytes.Contains(b, old))
	require.NoError(tb, os.WriteFile(path, bytes.Replace(b, old, []byte(section), 1), 0o600))
}

// broker.username and the password reach the embedded broker: it refuses
// a client without them (they were silently ignored), and the agent's own
// clients log in with them.
func TestEmbeddedBrokerRequiresCredentials(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "emb-auth", "")
	pw := filepath.Join(dir, "broker-password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	withBroker(t, cfgPath, "  embedded: true\n  listen: 127.0.0.1:0\n  username: rig\n  password_file: "+pw+"\n")
	a := startAgent(t, cfgPath) // ready: the ingest logged in

	connect := func(user, pass string) error {
		o := mqtt.NewClientOptions().AddBroker(a.BrokerURL()).SetClientID("emb-auth-gw").SetProtocolVersion(4).
			SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
		if user != "" {
			o.SetUsername(user).SetPassword(pass)
		}
		c := mqtt.NewClient(o)
		tok := c.Connect()
		require.True(t, tok.WaitTimeout(10*time.Second))
		if tok.Error() == nil {
			c.Disconnect(50)
		}
		return tok.Error()
	}
	assert.Error(t, connect("", ""), "anonymous")
	assert.Error(t, connect("rig", "wrong"), "a wrong password")
	assert.NoError(t, connect("rig", "s3cret"))
}

// An embedded broker on an address other than loopback without
// credentials is refused by the config (so by --check too), naming
// broker.listen; with broker.allow_anonymous it starts.
func TestEmbeddedBrokerOpenListenNeedsCredentials(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "emb-open", "")
	withBroker(t, cfgPath, "  embedded: true\n  listen: 0.0.0.0:0\n")
	_, err := config.Load(cfgPath)
	require.ErrorIs(t, err, config.ErrInvalid)
	assert.Contains(t, err.Error(), "broker.listen: 0.0.0.0:0 is not a loopback address")
	assert.Contains(t, err.Error(), "broker.allow_anonymous")

	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, bytes.Replace(b, []byte("  listen: 0.0.0.0:0\n"),
		[]byte("  listen: 0.0.0.0:0\n  allow_anonymous: true\n"), 1), 0o600))
	startAgent(t, cfgPath)
}
