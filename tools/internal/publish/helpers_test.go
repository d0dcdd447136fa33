package publish

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
)

// testLogger discards logs unless -v is given.
func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testRig returns a firmware config that uses every codec: two 100 Hz
// sensors sharing a binary topic, two 10 Hz csv sensors, two 1 Hz
// json-batch sensors, a json sensor on its own topic and two 10 Hz
// Sparkplug B metrics. Topics live under prefix (and spBv1.0/<group>)
// so that concurrent runs against a shared broker do not mix.
func testRig(prefix, group string) *rig.Config {
	s := func(id, topic, c string, hz float64) rig.Sensor {
		return rig.Sensor{ID: id, Kind: rig.KindPressure, Unit: "bar", RateHz: hz,
			MQTT: rig.MQTTBinding{Topic: topic, Codec: c}}
	}
	sp := "spBv1.0/" + group + "/DDATA/edge1/pump"
	return &rig.Config{RigType: "test-rig", Sensors: []rig.Sensor{
		s("PS1", prefix+"/fast", "binary", 100),
		s("PS2", prefix+"/fast", "binary", 100),
		s("FS1", prefix+"/flow", "csv", 10),
		s("FS2", prefix+"/flow", "csv", 10),
		s("TS1", prefix+"/slow", "json-batch", 1),
		s("TS2", prefix+"/slow", "json-batch", 1),
		s("CE", prefix+"/virtual/CE", "json", 1),
		s("SP1", sp, "sparkplugb", 10),
		s("SP2", sp, "sparkplugb", 10),
	}}
}

// uniqueName returns a name unique to this test run.
func uniqueName(tb testing.TB) string {
	return fmt.Sprintf("t%d-%s", os.Getpid(), randomHex(4))
}

// genSource streams Total readings of the sensors of Cfg on a 10 ms grid,
// Ticks grid steps per batch. It reuses its batch slice, so a publisher that
// keeps it without copying fails the tests. Emitted records what it emitted.
type genSource struct {
	Cfg   *rig.Config
	Total int
	Ticks int
	// Before, if set, is called before emitting batch i.
	Before func(i int)
	// NoRecord leaves Emitted empty (for benchmarks).
	NoRecord bool

	mu      sync.Mutex
	Emitted []reading.Reading
}

func (g *genSource) Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error {
	ticks := max(g.Ticks, 1)
	var batch []reading.Reading
	n, nb := 0, 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if g.Before != nil {
			g.Before(nb)
		}
		nb++
		if !g.NoRecord {
			g.mu.Lock()
			g.Emitted = append(g.Emitted, batch...)
			g.mu.Unlock()
		}
		err := emit(batch)
		clear(batch) // the publisher must have copied
		batch = batch[:0]
		return err
	}
	for tick := 0; n < g.Total; tick++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := start.Add(time.Duration(tick) * 10 * time.Millisecond)
		for i, s := range g.Cfg.Sensors {
			if n == g.Total {
				break
			}
			if tick%int(math.Round(100/s.RateHz)) != 0 {
				continue
			}
			batch = append(batch, reading.Reading{Sensor: s.ID, Time: t, Value: float64(tick)*0.25 + float64(i)})
			n++
		}
		if (tick+1)%ticks == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// emitted returns a copy of what was emitted.
func (g *genSource) emitted() []reading.Reading {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.Emitted)
}

// endless streams one PS1 reading per 10 ms of simulated time until ctx
// is done.
type endless struct{}

func (endless) Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error {
	for i := 0; ; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		r := reading.Reading{Sensor: "PS1", Time: start.Add(time.Duration(i) * 10 * time.Millisecond), Value: float64(i)}
		if err := emit([]reading.Reading{r}); err != nil {
			return err
		}
	}
}

// fakeClock advances only when slept on.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.sleeps = append(c.sleeps, d)
	return nil
}

func (c *fakeClock) slept() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum time.Duration
	for _, d := range c.sleeps {
		sum += d
	}
	return sum
}

// fakeToken is an mqtt.Token completed by hand.
type fakeToken struct {
	done chan struct{}
	err  error
}

func newToken() *fakeToken { return &fakeToken{done: make(chan struct{})} }

func doneToken(err error) *fakeToken {
	t := &fakeToken{done: make(chan struct{}), err: err}
	close(t.done)
	return t
}

func (t *fakeToken) Wait() bool { <-t.done; return true }
func (t *fakeToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *fakeToken) Done() <-chan struct{} { return t.done }
func (t *fakeToken) Error() error          { <-t.done; return t.err }

// fakeConn records messages; Token decides each message's token (nil:
// completed without error).
type fakeConn struct {
	Token func(topic string) mqtt.Token
	Clock Clock // if set, the time of each publish is recorded

	mu   sync.Mutex
	msgs []message
}

// message is one published (or received) MQTT message.
type message struct {
	Topic   string
	QoS     byte
	Payload []byte
	At      time.Time
}

func (c *fakeConn) Publish(topic string, qos byte, _ bool, payload any) mqtt.Token {
	m := message{Topic: topic, QoS: qos, Payload: slices.Clone(payload.([]byte))}
	if c.Clock != nil {
		m.At = c.Clock.Now()
	}
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	if c.Token != nil {
		return c.Token(topic)
	}
	return doneToken(nil)
}

func (c *fakeConn) Disconnect(uint) {}

func (c *fakeConn) messages() []message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// newFake returns a Publisher for cfg that publishes to conn.
func newFake(tb testing.TB, cfg *rig.Config, opts Options, fc conn) *Publisher {
	tb.Helper()
	if opts.Broker == "" {
		opts.Broker = "tcp://fake:1883"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	p, err := New(cfg, opts)
	require.NoError(tb, err)
	p.dial = func(context.Context, *mqtt.ClientOptions, *sync.WaitGroup) (conn, error) { return fc, nil }
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// decoded is a reading as received, with the topic and message it came in.
type decoded struct {
	reading.Reading
	Topic string
	Msg   int // index of the message
	Count int // readings in the message
}

// decodeAll decodes messages with the codec each topic has in cfg.
func decodeAll(tb testing.TB, cfg *rig.Config, msgs []message) []decoded {
	tb.Helper()
	codecs := map[string]codec.Codec{}
	for _, s := range cfg.Sensors {
		c, err := codec.Lookup(s.MQTT.Codec)
		require.NoError(tb, err)
		codecs[s.MQTT.Topic] = c
	}
	var out []decoded
	for i, m := range msgs {
		c := codecs[m.Topic]
		require.NotNil(tb, c, "message on unexpected topic %q", m.Topic)
		rs, err := c.Decode(codec.Binding{Topic: m.Topic}, m.Payload, nil)
		require.NoError(tb, err, "message %d on %q", i, m.Topic)
		for _, r := range rs {
			out = append(out, decoded{Reading: r, Topic: m.Topic, Msg: i, Count: len(rs)})
		}
	}
	return out
}

// key identifies a reading: one sensor has one reading per time.
type key struct {
	Sensor string
	Time   int64
}

// checkExactlyOnce asserts that got holds every reading of want exactly
// once, with its sensor, value, time and sequence number: per-sensor
// counters from 1 for most codecs, and for Sparkplug B a per-message seq
// that counts 0..255 up by one message after the other.
func checkExactlyOnce(tb testing.TB, cfg *rig.Config, want []reading.Reading, got []decoded) {
	tb.Helper()
	codecOf := map[string]string{}
	for _, s := range cfg.Sensors {
		codecOf[s.ID] = s.MQTT.Codec
	}
	byKey := make(map[key]decoded, len(got))
	var dups []key
	for _, g := range got {
		k := key{g.Sensor, g.Time.UnixNano()}
		if _, ok := byKey[k]; ok {
			dups = append(dups, k)
		}
		byKey[k] = g
	}
	require.Empty(tb, dups, "readings received more than once")
	seq := map[string]uint64{}
	var missing []key
	for _, w := range want {
		k := key{w.Sensor, w.Time.UnixNano()}
		g, ok := byKey[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		seq[w.Sensor]++
		require.Equal(tb, w.Value, g.Value, "value of %v", k)
		require.True(tb, w.Time.Equal(g.Time), "time of %v: got %s", k, g.Time)
		if codecOf[w.Sensor] != codec.NameSparkplugB {
			require.Equal(tb, seq[w.Sensor], g.Seq, "seq of %v", k)
		}
	}
	if len(missing) > 0 {
		tb.Fatalf("%d of %d readings never arrived (first: %v); a broker that drops messages "+
			"(Mosquitto's max_queued_messages) or a lost publish", len(missing), len(want), missing[0])
	}
	require.Len(tb, got, len(want), "readings received")

	// Sparkplug B: one seq per message, counting up mod 256 in order.
	var spSeqs []uint64
	last := -1
	for _, g := range got {
		if codecOf[g.Sensor] == codec.NameSparkplugB && g.Msg != last {
			spSeqs = append(spSeqs, g.Seq)
			last = g.Msg
		}
	}
	for i, s := range spSeqs {
		require.Equal(tb, uint64(i%256), s, "sparkplug message %d seq", i)
	}
}

// collector subscribes to topics and keeps every message it receives. Its
// handler only copies the payload under a mutex, so that it keeps up with
// the broker: a slow subscriber would make Mosquitto drop messages (see
// max_queued_messages in docs/ml-notes.md) and the test would then measure
// the subscriber, not the publisher.
type collector struct {
	mu   sync.Mutex
	msgs []message
	c    mqtt.Client
}

func subscribe(tb testing.TB, broker string, tlsConf *tls.Config, filters ...string) *collector {
	tb.Helper()
	col := &collector{}
	o := mqtt.NewClientOptions().AddBroker(broker).
		SetClientID("sub-" + randomHex(6)).
		SetCleanSession(true). // leave no session behind on a shared broker
		SetProtocolVersion(4).
		SetConnectTimeout(5 * time.Second).
		SetAutoReconnect(false)
	if tlsConf != nil {
		o.SetTLSConfig(tlsConf)
	}
	col.c = mqtt.NewClient(o)
	tok := col.c.Connect()
	require.True(tb, tok.WaitTimeout(10*time.Second), "subscriber connect timed out")
	require.NoError(tb, tok.Error(), "subscriber connect to %s", broker)
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	tok = col.c.SubscribeMultiple(subs, func(_ mqtt.Client, m mqtt.Message) {
		msg := message{Topic: m.Topic(), QoS: m.Qos(), Payload: slices.Clone(m.Payload())}
		col.mu.Lock()
		col.msgs = append(col.msgs, msg)
		col.mu.Unlock()
	})
	require.True(tb, tok.WaitTimeout(10*time.Second), "subscribe timed out")
	require.NoError(tb, tok.Error())
	tb.Cleanup(func() { col.c.Disconnect(100) })
	return col
}

// wait returns the messages once n arrived (and a short grace period
// passed, to catch duplicates), or what arrived by the timeout.
func (c *collector) wait(n int, timeout time.Duration) []message {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := len(c.msgs)
		c.mu.Unlock()
		if got >= n {
			time.Sleep(200 * time.Millisecond)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.msgs)
}

// brokerOpts configure an embedded broker.
type brokerOpts struct {
	addr     string      // listen address (zero: 127.0.0.1:0)
	tls      *tls.Config // serve TLS
	users    map[string]string
	received *collector // if set, every PUBLISH the broker accepts is recorded here
}

// startBroker starts an embedded mochi-mqtt broker on a free loopback port
// and returns its URL and a stop function (also run at cleanup).
func startBroker(tb testing.TB, bo brokerOpts) (string, func()) {
	tb.Helper()
	o := mqttbroker.Options{Addr: bo.addr, TLS: bo.tls, Users: bo.users}
	if bo.received != nil {
		o.Hooks = append(o.Hooks, &recordHook{col: bo.received})
	}
	b, err := mqttbroker.Start(o)
	require.NoError(tb, err)
	stop := func() { _ = b.Close() }
	tb.Cleanup(stop)
	return b.URL(), stop
}

// recordHook records every PUBLISH the broker receives, before it is
// acknowledged.
type recordHook struct {
	mochi.HookBase
	col *collector
}

func (h *recordHook) ID() string { return "record" }

func (h *recordHook) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *recordHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if !strings.HasPrefix(pk.TopicName, "$") {
		h.col.mu.Lock()
		h.col.msgs = append(h.col.msgs, message{Topic: pk.TopicName, QoS: pk.FixedHeader.Qos, Payload: slices.Clone(pk.Payload)})
		h.col.mu.Unlock()
	}
	return pk, nil
}

// closedPort returns a loopback address nothing listens on.
func closedPort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	return addr
}
