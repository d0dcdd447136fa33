package publish

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testenv"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

// The tests in this file talk to real brokers: an embedded mochi-mqtt
// broker started per test on a free loopback port, and the Mosquitto named
// by $MQTT_URL (the Makefile exports it; the test is skipped when unset).

// roundTrip publishes 5,000 readings (about 2,500 QoS 1 messages on five
// topics, every codec) to broker, receives them with a separate
// subscriber, decodes them with shared/codec and checks that every reading
// arrived exactly once with its sensor, value, time and seq.
//
// Honesty: broker acknowledgements say nothing about delivery to
// subscribers; a Mosquitto with default limits (max_queued_messages 1000,
// max_inflight_messages 20) silently drops QoS 1 messages queued for a
// subscriber that falls behind. The run sends more messages than that
// queue holds, so a lagging subscriber would show up as missing readings.
// The subscriber's handler only copies payloads (decoding happens after),
// so it keeps up, and the publisher keeps at most MaxInFlight messages
// unacknowledged, so it cannot race far ahead of the broker either.
func roundTrip(t *testing.T, broker string, tlsConf *tls.Config, opts Options) Stats {
	t.Helper()
	name := uniqueName(t)
	prefix, group := "hydrognn-test/"+name, name
	cfg := testRig(prefix, group)
	col := subscribe(t, broker, tlsConf, prefix+"/#", "spBv1.0/"+group+"/#")

	opts.Broker = broker
	opts.TLS = tlsConf
	opts.Logger = testLogger(t)
	p, err := New(cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	src := &genSource{Cfg: cfg, Total: 5000, Ticks: 1}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := p.Run(ctx, src, t0)
	require.NoError(t, err)
	require.Zero(t, st.Errors)
	require.Zero(t, st.Unconfirmed)
	require.EqualValues(t, 5000, st.Readings)
	t.Logf("published: %s", st)

	msgs := col.wait(int(st.Messages), 30*time.Second)
	require.Len(t, msgs, int(st.Messages), "messages received by the subscriber")
	for _, m := range msgs {
		require.EqualValues(t, 1, m.QoS, "delivered QoS")
	}
	checkExactlyOnce(t, cfg, src.emitted(), decodeAll(t, cfg, msgs))
	return st
}

func TestEmbeddedBrokerRoundTrip(t *testing.T) {
	url, _ := startBroker(t, brokerOpts{})
	roundTrip(t, url, nil, Options{})
}

func TestMosquittoRoundTrip(t *testing.T) {
	url := testenv.Env(t, "MQTT_URL", testenv.Mosquitto)
	// A unique client id and clean session leave no state behind on a
	// shared broker; the default (persistent session) runs against the
	// embedded broker.
	roundTrip(t, url, nil, Options{ClientID: "pubtest-" + randomHex(6), CleanSession: true})
}

func TestConnectUnreachable(t *testing.T) {
	url := "tcp://" + closedPort(t)
	p, err := New(testRig("x", "g"), Options{Broker: url, Logger: testLogger(t)})
	require.NoError(t, err)
	defer p.Close()
	err = p.Connect(context.Background())
	require.ErrorIs(t, err, ErrConnect)
	assert.Contains(t, err.Error(), url)
	assert.Contains(t, err.Error(), "connection refused")

	_, err = p.Run(context.Background(), endless{}, t0)
	require.ErrorIs(t, err, ErrConnect)
}

// silentBroker accepts TCP connections and never answers.
func silentBroker(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "tcp://" + l.Addr().String()
}

func TestConnectTimeout(t *testing.T) {
	url := silentBroker(t)
	p, err := New(testRig("x", "g"), Options{Broker: url, ConnectTimeout: 300 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	err = p.Connect(context.Background())
	require.ErrorIs(t, err, ErrConnect)
	assert.Contains(t, err.Error(), url)
	require.NoError(t, p.Close())
}

// TestConnectCancel: a cancelled ctx ends Connect at once; Close then waits
// for the abandoned attempt.
func TestConnectCancel(t *testing.T) {
	url := silentBroker(t)
	p, err := New(testRig("x", "g"), Options{Broker: url, ConnectTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	began := time.Now()
	err = p.Connect(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrConnect)
	assert.Less(t, time.Since(began), 400*time.Millisecond)
	require.NoError(t, p.Close())
}

func TestAuth(t *testing.T) {
	url, _ := startBroker(t, brokerOpts{users: map[string]string{"rig": "s3cret"}})
	cfg := testRig("x", "g")
	run := func(opts Options) (Stats, error) {
		opts.Logger = testLogger(t)
		p, err := New(cfg, opts)
		require.NoError(t, err)
		defer p.Close()
		return p.Run(context.Background(), &genSource{Cfg: cfg, Total: 100, Ticks: 10}, t0)
	}
	st, err := run(Options{Broker: url, Username: "rig", Password: "s3cret"})
	require.NoError(t, err)
	assert.EqualValues(t, 100, st.Readings)

	st, err = run(Options{Broker: strings.Replace(url, "tcp://", "tcp://rig:s3cret@", 1)})
	require.NoError(t, err, "credentials from the URL")
	assert.EqualValues(t, 100, st.Readings)

	_, err = run(Options{Broker: strings.Replace(url, "tcp://", "tcp://rig:wrong@", 1)})
	require.ErrorIs(t, err, ErrConnect)
	assert.NotContains(t, err.Error(), "wrong", "password leaked into the error")
	t.Log(err)

	_, err = run(Options{Broker: url})
	require.ErrorIs(t, err, ErrConnect)
}

func TestTLS(t *testing.T) {
	server, client := selfSignedTLS(t)
	url, _ := startBroker(t, brokerOpts{tls: server})
	require.True(t, strings.HasPrefix(url, "ssl://"))
	roundTripSmall := func(tlsConf *tls.Config) error {
		cfg := testRig("x", "g")
		p, err := New(cfg, Options{Broker: url, TLS: tlsConf, Logger: testLogger(t)})
		require.NoError(t, err)
		defer p.Close()
		st, err := p.Run(context.Background(), &genSource{Cfg: cfg, Total: 100, Ticks: 10}, t0)
		if err == nil {
			assert.EqualValues(t, 100, st.Readings)
		}
		return err
	}
	require.NoError(t, roundTripSmall(client))
	err := roundTripSmall(nil) // system roots do not trust the test CA
	require.ErrorIs(t, err, ErrConnect)
	assert.Contains(t, err.Error(), "certificate")
}

// selfSignedTLS returns a server config with a certificate for
// 127.0.0.1 from a throwaway CA and a client config that trusts the CA.
func selfSignedTLS(t *testing.T) (server, client *tls.Config) {
	ca := testpki.New(t, "publish test CA")
	server = &tls.Config{Certificates: []tls.Certificate{ca.Server("publish test broker").TLS}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	return server, client
}

// TestReconnect restarts the broker in the middle of a run: the publisher
// must notice, reconnect by itself and resend what was unacknowledged, so
// that every reading reaches a broker at least once (QoS 1 allows
// duplicates: the old broker may have got a message whose ack was lost).
func TestReconnect(t *testing.T) {
	rec := &collector{}
	addr := closedPort(t)
	url, stop := startBroker(t, brokerOpts{addr: addr, received: rec})
	cfg := testRig("x", "g")
	src := &genSource{Cfg: cfg, Total: 2000, Ticks: 1, Before: func(i int) {
		if i == 300 {
			stop()
			startBroker(t, brokerOpts{addr: addr, received: rec})
		}
	}}
	p, err := New(cfg, Options{Broker: url, MaxInFlight: 16, MaxReconnectInterval: 500 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := p.Run(ctx, src, t0)
	require.NoError(t, err)
	t.Logf("published: %s", st)
	assert.GreaterOrEqual(t, st.ConnectionLost, uint64(1))
	assert.Zero(t, st.Errors)
	assert.Zero(t, st.Unconfirmed)
	assert.EqualValues(t, 2000, st.Readings)

	got := decodeAll(t, cfg, rec.wait(0, 0))
	seen := map[key]float64{}
	for _, g := range got {
		seen[key{g.Sensor, g.Time.UnixNano()}] = g.Value
	}
	for _, w := range src.emitted() {
		v, ok := seen[key{w.Sensor, w.Time.UnixNano()}]
		require.True(t, ok, "reading %s at %s never reached a broker", w.Sensor, w.Time)
		require.Equal(t, w.Value, v)
	}
	t.Logf("brokers received %d readings for %d published (%d duplicates)", len(got), 2000, len(got)-2000)
}

// TestCancelPromptly: at real-time speed on a real broker, cancelling ctx
// ends Run within milliseconds, with everything in flight acknowledged,
// and publishing never ran ahead of real time.
func TestCancelPromptly(t *testing.T) {
	url, _ := startBroker(t, brokerOpts{})
	p, err := New(testRig("x", "g"), Options{Broker: url, Speed: 1, Logger: testLogger(t)})
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.Connect(context.Background()))
	ctx, cancel := context.WithCancel(context.Background())
	var cancelled atomic.Int64
	time.AfterFunc(300*time.Millisecond, func() {
		cancelled.Store(time.Now().UnixNano())
		cancel()
	})
	st, err := p.Run(ctx, endless{}, t0)
	took := time.Since(time.Unix(0, cancelled.Load()))
	require.ErrorIs(t, err, context.Canceled)
	t.Logf("stopped %s after the cancel", took)
	// Typically under 5 ms; the bound leaves room for -race on a busy machine.
	assert.Less(t, took, time.Second, "Run took %s to stop", took)
	assert.Zero(t, st.Unconfirmed)
	assert.Zero(t, st.Errors)
	assert.GreaterOrEqual(t, st.Messages, uint64(10), "about 30 readings are due in 300 ms")
	assert.LessOrEqual(t, st.SimEnd.Sub(st.SimStart), st.Elapsed, "ran ahead of real time")
}
