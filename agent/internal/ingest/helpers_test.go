package ingest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// testLogger discards logs unless -v is given.
func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", tb.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fakeStore follows the Store contract: Append copies what it keeps and
// returns nil only once it is "committed". FailFirst makes the first
// appends fail; Delay slows every append; OnAppend sees each batch.
type fakeStore struct {
	FailFirst int
	Delay     time.Duration
	OnAppend  func(rs []reading.Reading)
	// Diag, if set, says more when waitFor fails.
	Diag func() string

	mu       sync.Mutex
	rs       []reading.Reading
	calls    int
	failures int
	grew     chan struct{}
}

func newStore() *fakeStore { return &fakeStore{grew: make(chan struct{}, 1)} }

func (s *fakeStore) Append(ctx context.Context, rs []reading.Reading) error {
	if s.Delay > 0 {
		select {
		case <-time.After(s.Delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.OnAppend != nil {
		s.OnAppend(rs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.failures < s.FailFirst {
		s.failures++
		return errors.New("disk full (test)")
	}
	s.rs = append(s.rs, rs...)
	select {
	case s.grew <- struct{}{}:
	default:
	}
	return nil
}

// Latest implements Resumer as the buffer does: per sensor the newest
// time stored and the seq of the last reading stored that had one.
func (s *fakeStore) Latest(context.Context) ([]reading.Reading, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := map[string]reading.Reading{}
	for _, r := range s.rs {
		l, ok := last[r.Sensor]
		if !ok {
			last[r.Sensor] = reading.Reading{Sensor: r.Sensor, Time: r.Time, Seq: r.Seq}
			continue
		}
		if r.Time.After(l.Time) {
			l.Time = r.Time
		}
		if r.Seq != 0 {
			l.Seq = r.Seq
		}
		last[r.Sensor] = l
	}
	out := make([]reading.Reading, 0, len(last))
	for _, r := range last {
		out = append(out, r)
	}
	return out, nil
}

func (s *fakeStore) readings() []reading.Reading {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rs)
}

// waitFor waits until the store holds n readings (and a short grace period
// passed, to catch extra ones) or the timeout.
func (s *fakeStore) waitFor(tb testing.TB, n int, timeout time.Duration) []reading.Reading {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got := len(s.rs)
		s.mu.Unlock()
		if got >= n {
			time.Sleep(200 * time.Millisecond)
			return s.readings()
		}
		select {
		case <-s.grew:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			if s.Diag != nil {
				tb.Log(s.Diag())
			}
			tb.Fatalf("store holds %d readings after %s, want %d", got, timeout, n)
		}
	}
}

// testRig is a firmware config using every built-in codec: two 100 Hz
// sensors sharing a binary topic (PS1 scaled 0.01, PS2 with an offset),
// two csv sensors, two json-batch sensors (TS2 inactive), a json sensor on
// its own topic and two Sparkplug B metrics of one device. Topics live
// under prefix and group, so that runs against a shared broker do not mix.
func testRig(prefix, group string) *rig.Config {
	s := func(id, topic, c string, lo, hi float64) rig.Sensor {
		return rig.Sensor{ID: id, Kind: rig.KindPressure, Unit: "bar", RateHz: 100, Range: rig.Range{Min: lo, Max: hi},
			MQTT: rig.MQTTBinding{Topic: topic, Codec: c}}
	}
	ps1 := s("PS1", prefix+"/fast", "binary", 0, 250)
	ps1.Scale = 0.01 // raw centibar
	ps2 := s("PS2", prefix+"/fast", "binary", 0, 250)
	ps2.Offset = 1
	ts2 := s("TS2", prefix+"/slow", "json-batch", -20, 120)
	ts2.Inactive = true
	sp := "spBv1.0/" + group + "/DDATA/edge1/pump"
	return &rig.Config{RigType: "test-rig", Equipment: rig.Equipment{ID: "test-" + group}, Sensors: []rig.Sensor{
		ps1, ps2,
		s("FS1", prefix+"/flow", "csv", 0, 20),
		s("FS2", prefix+"/flow", "csv", 0, 20),
		s("TS1", prefix+"/slow", "json-batch", -20, 120),
		ts2,
		s("CE", prefix+"/virtual/CE", "json", 0, 100),
		s("SP1", sp, "sparkplugb", 0, 250),
		s("SP2", sp, "sparkplugb", 0, 250),
	}}
}

// message is one MQTT message to publish.
type message struct {
	Topic   string
	Payload []byte
}

// stream is a test stream: the messages to publish and the readings the
// store must end up with (scaled, as the ingest stores them).
type stream struct {
	Msgs []message
	Want []reading.Reading
}

// makeStream builds perSensor readings of every active sensor of cfg,
// perMsg readings per message (one for json), with per-sensor seqs from 1
// (per-message seqs 0..255 for Sparkplug B), times on a 10 ms grid from
// t0, values inside the ranges.
func makeStream(tb testing.TB, cfg *rig.Config, t0 time.Time, perSensor, perMsg int) stream {
	tb.Helper()
	type topicData struct {
		codec string
		rs    []reading.Reading
	}
	var order []string
	topics := map[string]*topicData{}
	var want []reading.Reading
	for i, s := range cfg.Sensors {
		if s.Inactive {
			continue
		}
		td := topics[s.MQTT.Topic]
		if td == nil {
			td = &topicData{codec: s.MQTT.Codec}
			topics[s.MQTT.Topic] = td
			order = append(order, s.MQTT.Topic)
		}
		scale := s.Scale
		if scale == 0 {
			scale = 1
		}
		for k := range perSensor {
			// A value inside the sensor's range, sent raw.
			frac := 0.05 + 0.9*float64((k*7+i*13)%20)/19
			v := s.Range.Min + frac*(s.Range.Max-s.Range.Min)
			raw := math.Round((v-s.Offset)/scale*1000) / 1000
			r := reading.Reading{Sensor: s.ID, Time: t0.Add(time.Duration(k) * 10 * time.Millisecond), Value: raw, Seq: uint64(k + 1)}
			td.rs = append(td.rs, r)
			w := r
			w.Value = raw*scale + s.Offset
			want = append(want, w)
		}
	}
	var msgs []message
	for _, topic := range order {
		td := topics[topic]
		c, err := codec.Lookup(td.codec)
		require.NoError(tb, err)
		// Interleave the sensors of a topic in time order.
		slices.SortStableFunc(td.rs, func(a, b reading.Reading) int { return a.Time.Compare(b.Time) })
		n := perMsg
		if td.codec == codec.NameJSON {
			n = 1
		}
		for i, spSeq := 0, 0; i < len(td.rs); i, spSeq = i+n, spSeq+1 {
			part := slices.Clone(td.rs[i:min(i+n, len(td.rs))])
			if td.codec == codec.NameSparkplugB {
				for j := range part {
					part[j].Seq = uint64(spSeq % 256)
					part[j].Time = part[j].Time.Truncate(time.Millisecond)
				}
			}
			payload, err := c.Encode(nil, part)
			require.NoError(tb, err)
			msgs = append(msgs, message{Topic: topic, Payload: payload})
		}
	}
	// Interleave the topics, as gateways publishing at once would.
	return stream{Msgs: interleave(msgs), Want: want}
}

// interleave orders messages round-robin over topics, keeping each
// topic's order.
func interleave(msgs []message) []message {
	byTopic := map[string][]message{}
	var order []string
	for _, m := range msgs {
		if _, ok := byTopic[m.Topic]; !ok {
			order = append(order, m.Topic)
		}
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	out := make([]message, 0, len(msgs))
	for len(out) < len(msgs) {
		for _, t := range order {
			if q := byTopic[t]; len(q) > 0 {
				out = append(out, q[0])
				byTopic[t] = q[1:]
			}
		}
	}
	return out
}

// checkExactlyOnce asserts that got holds every reading of want exactly
// once, with its value, time and (except for Sparkplug B) seq.
func checkExactlyOnce(tb testing.TB, want, got []reading.Reading) {
	tb.Helper()
	type key struct {
		s string
		t int64
	}
	byKey := map[key]reading.Reading{}
	for _, g := range got {
		k := key{g.Sensor, g.Time.UnixNano()}
		if _, dup := byKey[k]; dup {
			tb.Fatalf("reading %s at %s stored twice", g.Sensor, g.Time)
		}
		byKey[k] = g
	}
	for _, w := range want {
		k := key{w.Sensor, w.Time.Truncate(time.Millisecond).UnixNano()}
		g, ok := byKey[k]
		if !ok {
			k.t = w.Time.UnixNano()
			g, ok = byKey[k]
		}
		if !ok {
			tb.Fatalf("reading %s at %s never stored", w.Sensor, w.Time)
		}
		require.InDelta(tb, w.Value, g.Value, 1e-9, "value of %s at %s", w.Sensor, w.Time)
		if !isSparkplugSensor(w.Sensor) {
			require.Equal(tb, w.Seq, g.Seq, "seq of %s at %s", w.Sensor, w.Time)
		}
	}
	require.Len(tb, got, len(want), "readings stored")
}

func isSparkplugSensor(id string) bool { return id == "SP1" || id == "SP2" }

// publisher is a plain paho client that publishes QoS 1 messages with a
// window of unacknowledged ones.
type publisher struct {
	c mqtt.Client
}

func newPublisher(tb testing.TB, url string, opts ...func(*mqtt.ClientOptions)) *publisher {
	tb.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("pub-" + randomHex(6)).
		SetCleanSession(true).SetProtocolVersion(4).SetAutoReconnect(true).
		SetConnectTimeout(5 * time.Second).SetOrderMatters(false)
	for _, f := range opts {
		f(o)
	}
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(tb, tok.WaitTimeout(10*time.Second), "publisher connect timed out")
	require.NoError(tb, tok.Error(), "publisher connect to %s", url)
	tb.Cleanup(func() { c.Disconnect(100) })
	return &publisher{c: c}
}

// publish sends msgs at QoS 1, at most window unacknowledged, and waits
// for every acknowledgement.
func (p *publisher) publish(tb testing.TB, msgs []message, window int) {
	tb.Helper()
	sem := make(chan mqtt.Token, window)
	var failed atomic.Int64
	drain := func(tok mqtt.Token) {
		if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			failed.Add(1)
		}
	}
	for _, m := range msgs {
		if len(sem) == cap(sem) {
			drain(<-sem)
		}
		sem <- p.c.Publish(m.Topic, 1, false, m.Payload)
	}
	for len(sem) > 0 {
		drain(<-sem)
	}
	require.Zero(tb, failed.Load(), "publishes not acknowledged")
}

// startBroker starts an embedded broker on a free loopback port.
func startBroker(tb testing.TB, opts broker.Options) *broker.Broker {
	tb.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	b, err := broker.Start(opts)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// smallWindowBroker is an embedded broker whose in-flight window for the
// agent is small (MaxInflight 16, publishers held back past HighWater 8,
// for at most 200 ms): a few held messages would fill it.
func smallWindowBroker(tb testing.TB) *broker.Broker {
	tb.Helper()
	return startBroker(tb, broker.Options{MaxInflight: 16, HighWater: 8, MaxPublishWait: 200 * time.Millisecond})
}

// mosquitto returns $MQTT_URL or skips the test (fails it under
// HYDROGNN_REQUIRE_SERVICES=1: shared/testenv).
func mosquitto(tb testing.TB) string {
	tb.Helper()
	return testenv.Env(tb, "MQTT_URL", testenv.Mosquitto)
}

// running is an Ingest running in the background.
type running struct {
	in     *Ingest
	cancel context.CancelFunc
	done   chan error
}

// startIngest runs an Ingest until the test ends (or stop is called).
func startIngest(tb testing.TB, cfg *rig.Config, store Store, opts Options) *running {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(tb)
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 20 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 200 * time.Millisecond
	}
	in, err := New(cfg, store, opts)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{in: in, cancel: cancel, done: make(chan error, 1)}
	if fs, ok := store.(*fakeStore); ok && fs.Diag == nil {
		fs.Diag = func() string {
			return fmt.Sprintf("ingest stats: %+v\nlatest rejections: %+v", in.Stats(), in.Rejections())
		}
	}
	go func() { r.done <- in.Run(ctx) }()
	tb.Cleanup(func() { r.stop(tb) })
	waitUntil(tb, 10*time.Second, "ingest connected and subscribed", func() bool {
		return in.Stats().Connected
	})
	return r
}

// stop cancels Run and waits for it.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			require.NoError(tb, err)
			close(r.done)
		}
	case <-time.After(15 * time.Second):
		tb.Fatal("Run did not return after cancel")
	}
}

// waitUntil polls cond.
func waitUntil(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cleanSession removes a persistent session from a shared broker.
func cleanSession(tb testing.TB, url, clientID string) {
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(true).SetConnectTimeout(5 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		c.Disconnect(50)
	}
}

func uniqueName() string { return fmt.Sprintf("t%d-%s", os.Getpid(), randomHex(4)) }

// topicSensor is sensor id, range 0 to 100, alone on topic prefix/id with
// codec c.
func topicSensor(prefix, id, c string) rig.Sensor {
	return rig.Sensor{ID: id, Range: rig.Range{Min: 0, Max: 100}, MQTT: rig.MQTTBinding{Topic: prefix + "/" + id, Codec: c}}
}

// brokenPluginHost is a plugin host whose plugin "broken" exits at once:
// it never starts, and each try to start it backs off (minBackoff up to
// maxBackoff). The host is closed when the test ends.
func brokenPluginHost(tb testing.TB, minBackoff, maxBackoff time.Duration) *plugin.Host {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, plugin.BinaryPrefix+"broken"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	host, err := plugin.NewHost(plugin.HostOptions{Dir: dir, StartTimeout: 2 * time.Second,
		MinBackoff: minBackoff, MaxBackoff: maxBackoff, Logger: testLogger(tb)})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = host.Close() })
	return host
}

// heldOptions are ingestOptions for url with the plugins of host: a topic
// whose plugin is unavailable for MaxPluginWait (200 ms) is held, and the
// session ends HeldRetry (1 s) later for the broker to deliver it again.
func heldOptions(t *testing.T, url string, host *plugin.Host) Options {
	opts := ingestOptions(t, url)
	opts.Plugins = func(n string) (Decoder, error) { return host.Codec(n) }
	opts.MaxPluginWait, opts.HeldRetry = 200*time.Millisecond, time.Second
	return opts
}

// jsonMessages are n JSON messages on topic, each a reading of value 1,
// one a second from t0.
func jsonMessages(topic string, t0 time.Time, n int) []message {
	msgs := make([]message, 0, n)
	for k := range n {
		ts := t0.Add(time.Duration(k) * time.Second).UTC().Format(time.RFC3339Nano)
		msgs = append(msgs, message{topic, []byte(`{"v":1,"ts":"` + ts + `"}`)})
	}
	return msgs
}
