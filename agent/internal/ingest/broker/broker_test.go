package broker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test", tb.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func start(tb testing.TB, opts Options) *Broker {
	tb.Helper()
	opts.Addr = "127.0.0.1:0"
	opts.Logger = testLogger(tb)
	b, err := Start(opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// client connects a paho client; opts may change its options.
func client(tb testing.TB, url, id string, clean bool, opts ...func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	for _, f := range opts {
		f(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { c.Disconnect(0) })
	return c, nil
}

func mustClient(tb testing.TB, url, id string, clean bool, opts ...func(*mqtt.ClientOptions)) mqtt.Client {
	tb.Helper()
	c, err := client(tb, url, id, clean, opts...)
	require.NoError(tb, err)
	return c
}

// publish sends n QoS 1 messages numbered from first with at most window
// unacknowledged; it returns how many were acknowledged.
func publish(c mqtt.Client, topic string, first, n, window int) int {
	sem := make(chan mqtt.Token, window)
	ok := 0
	wait := func(t mqtt.Token) {
		if t.WaitTimeout(20*time.Second) && t.Error() == nil {
			ok++
		}
	}
	for i := first; i < first+n; i++ {
		if len(sem) == cap(sem) {
			wait(<-sem)
		}
		sem <- c.Publish(topic, 1, false, []byte(strconv.Itoa(i)))
	}
	for len(sem) > 0 {
		wait(<-sem)
	}
	return ok
}

// collector records the numbers of the messages it got.
type collector struct {
	mu  sync.Mutex
	got []int
	dup []bool
}

func (c *collector) add(m mqtt.Message) {
	n, _ := strconv.Atoi(string(m.Payload()))
	c.mu.Lock()
	c.got = append(c.got, n)
	c.dup = append(c.dup, m.Duplicate())
	c.mu.Unlock()
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// session connects the persistent session id, whose messages go to the
// collector returned; unless ack, it never acknowledges them.
func session(tb testing.TB, url, id string, ack bool) (mqtt.Client, *collector) {
	tb.Helper()
	got := &collector{}
	c := mustClient(tb, url, id, false, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(!ack)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got.add(m) })
	})
	return c, got
}

// heldFor subscribes the persistent session id to topic, never
// acknowledging, publishes n messages to it (at most window
// unacknowledged) and waits until id got them all: the broker holds them
// for id. It returns id's client, still connected.
func heldFor(tb testing.TB, url, id, topic string, n, window int) mqtt.Client {
	tb.Helper()
	sub, first := session(tb, url, id, false)
	require.True(tb, sub.Subscribe(topic, 1, nil).WaitTimeout(5*time.Second))
	pub := mustClient(tb, url, randomID("pub-"), true)
	require.Equal(tb, n, publish(pub, topic, 0, n, window))
	waitFor(tb, "first delivery", func() bool { return first.len() == n })
	return sub
}

// TestRedeliveryInOrder: messages a subscriber did not acknowledge come
// back, all of them, in the order they were published, when it resumes
// its session (mochi-mqtt alone resends those of one second in random
// order).
func TestRedeliveryInOrder(t *testing.T) {
	b := start(t, Options{})
	id := randomID("sub-")
	const n = 500
	heldFor(t, b.URL(), id, "t/order", n, 50).Disconnect(0)

	_, again := session(t, b.URL(), id, true)
	waitFor(t, "redelivery", func() bool { return again.len() == n })
	for i, v := range again.got {
		require.Equal(t, i, v, "redelivered message %d out of order", i)
		require.True(t, again.dup[i], "DUP flag")
	}
	assert.Zero(t, b.Stats().InflightDropped)
}

// TestHoldBack: a subscriber that acknowledges slowly makes the broker
// hold publishers back instead of dropping: every message arrives, the
// broker drops nothing, and the hold-back is counted.
func TestHoldBack(t *testing.T) {
	b := start(t, Options{HighWater: 20, MaxWritesPending: 64})
	got := &collector{}
	sub := mustClient(t, b.URL(), randomID("sub-"), false, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(true)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			got.add(m)
			go func() { time.Sleep(2 * time.Millisecond); m.Ack() }()
		})
	})
	require.True(t, sub.Subscribe("t/slow", 1, nil).WaitTimeout(5*time.Second))
	const n = 1000
	var wg sync.WaitGroup
	var acked atomic.Int64
	for p := range 2 {
		pub := mustClient(t, b.URL(), randomID("pub-"), true)
		wg.Go(func() { acked.Add(int64(publish(pub, "t/slow", p*n, n, 200))) })
	}
	wg.Wait()
	require.EqualValues(t, 2*n, acked.Load())
	waitFor(t, "every message", func() bool { return got.len() == 2*n })
	st := b.Stats()
	t.Logf("broker stats: %+v", st)
	assert.Zero(t, st.MessagesDropped)
	assert.Zero(t, st.InflightDropped)
	assert.Positive(t, st.HeldBack, "publishers were held back")
	seen := map[int]bool{}
	got.mu.Lock()
	for _, v := range got.got {
		seen[v] = true
	}
	got.mu.Unlock()
	assert.Len(t, seen, 2*n)
}

// TestDrain: Drain refuses new publishes (unacknowledged, so publishers
// keep them), new connections and every client but the kept one, and
// returns once the kept client has acknowledged what the broker holds.
func TestDrain(t *testing.T) {
	b := start(t, Options{})
	keep := randomID("ingest-")
	var acks sync.WaitGroup
	var mu sync.Mutex
	var pending []mqtt.Message
	sub := mustClient(t, b.URL(), keep, false, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(true)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			mu.Lock()
			pending = append(pending, m)
			mu.Unlock()
		})
	})
	require.True(t, sub.Subscribe("t/drain", 1, nil).WaitTimeout(5*time.Second))
	pub := mustClient(t, b.URL(), randomID("pub-"), false)
	require.Equal(t, 10, publish(pub, "t/drain", 0, 10, 10))
	waitFor(t, "delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(pending) == 10 })

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := b.Drain(ctx, keep)
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "10 messages are unacknowledged")
	assert.Contains(t, err.Error(), "10 messages")

	waitFor(t, "publisher disconnected", func() bool { return !pub.IsConnectionOpen() })
	_, err = client(t, b.URL(), randomID("late-"), true)
	require.Error(t, err, "no new connections while draining")

	acks.Go(func() {
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		defer mu.Unlock()
		for _, m := range pending {
			m.Ack()
		}
	})
	require.NoError(t, b.Drain(context.Background(), keep))
	acks.Wait()
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "idempotent")
}

func TestAuth(t *testing.T) {
	b := start(t, Options{Users: map[string]string{"rig": "s3cret"}})
	_, err := client(t, b.URL(), randomID("a-"), true, func(o *mqtt.ClientOptions) { o.SetUsername("rig").SetPassword("s3cret") })
	require.NoError(t, err)
	_, err = client(t, b.URL(), randomID("b-"), true, func(o *mqtt.ClientOptions) { o.SetUsername("rig").SetPassword("wrong") })
	require.Error(t, err)
	_, err = client(t, b.URL(), randomID("c-"), true)
	require.Error(t, err)
}

func TestMaxClients(t *testing.T) {
	b := start(t, Options{MaxClients: 1})
	mustClient(t, b.URL(), randomID("a-"), true)
	_, err := client(t, b.URL(), randomID("b-"), true)
	require.Error(t, err)
}

func TestOptions(t *testing.T) {
	for _, o := range []Options{
		{HighWater: 70000},
		{MaxInflight: 100, HighWater: 100},
		{MaxWritesPending: -1},
		{MaxPublishWait: -1},
		{MaxClients: -1},
		{Reserved: []string{""}},
		{Subscriber: "ingest", Reserved: []string{"ingest"}},
		{Reserved: []string{"pub", "pub"}},
	} {
		_, err := Start(o)
		require.ErrorIs(t, err, ErrOptions, "%+v", o)
	}
	_, err := Start(Options{Addr: "256.0.0.1:1", Logger: testLogger(t)})
	require.Error(t, err)

	b := start(t, Options{})
	assert.Contains(t, b.URL(), "tcp://127.0.0.1:")
	assert.Equal(t, DefaultHighWater, b.opts.HighWater)
	assert.EqualValues(t, DefaultMaxInflight, b.opts.MaxInflight)
}
