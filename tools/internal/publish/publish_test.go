package publish

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewErrors(t *testing.T) {
	good := func() *rig.Config { return testRig("x", "g") }
	with := func(mod func(c *rig.Config)) *rig.Config { c := good(); mod(c); return c }
	qos := func(n int) *int { return &n }
	tests := []struct {
		name string
		cfg  *rig.Config
		opts Options
		is   error
		want string
	}{
		{"nil config", nil, Options{}, ErrOptions, "nil firmware config"},
		{"no broker", good(), Options{Broker: ""}, ErrOptions, "broker URL is required"},
		{"bad scheme", good(), Options{Broker: "http://h:1883"}, ErrOptions, `scheme "http"`},
		{"no host", good(), Options{Broker: "tcp://:1883"}, ErrOptions, "has no host"},
		{"no port", good(), Options{Broker: "tcp://broker"}, ErrOptions, "has no port (e.g. tcp://broker:1883)"},
		{"password redacted", good(), Options{Broker: "ftp://u:secret@h:1"}, ErrOptions, "u:xxxxx@h:1"},
		{"negative speed", good(), Options{Speed: -1}, ErrOptions, "speed -1"},
		{"NaN speed", good(), Options{Speed: math.NaN()}, ErrOptions, "speed NaN"},
		{"flush interval", good(), Options{FlushInterval: -time.Second}, ErrOptions, "flush interval -1s"},
		{"per message", good(), Options{MaxReadingsPerMessage: codec.MaxReadings + 1}, ErrOptions, "max readings per message 65537"},
		{"in flight", good(), Options{MaxInFlight: 70000}, ErrOptions, "max in flight 70000 must be in 1..65535"},
		{"drain", good(), Options{DrainTimeout: -1}, ErrOptions, "drain timeout -1ns"},
		{"no topic", with(func(c *rig.Config) { c.Sensors[2].MQTT.Topic = "" }), Options{}, ErrBinding,
			`sensor "FS1" (sensors[2]) has no mqtt.topic`},
		{"wildcard", with(func(c *rig.Config) { c.Sensors[6].MQTT.Topic = "a/+/b" }), Options{}, ErrBinding,
			`mqtt.topic "a/+/b" contains a wildcard`},
		{"unknown codec", with(func(c *rig.Config) { c.Sensors[6].MQTT.Codec = "xml" }), Options{}, codec.ErrUnknown,
			`sensor "CE" (sensors[6]) on topic "x/virtual/CE": codec "xml": unknown codec`},
		{"plugin codec", with(func(c *rig.Config) { c.Sensors[6].MQTT.Codec = "plugin:modbus" }), Options{}, codec.ErrPlugin,
			`codec "plugin:modbus"`},
		{"two codecs on a topic", with(func(c *rig.Config) { c.Sensors[3].MQTT.Codec = "json-batch" }), Options{}, ErrBinding,
			`codec "json-batch" differs from "csv" of sensor "FS1" on topic "x/flow"`},
		{"two QoS on a topic", with(func(c *rig.Config) { c.Sensors[1].MQTT.QoS = qos(0) }), Options{}, ErrBinding,
			`qos 0 differs from 1 of sensor "PS1"`},
		{"bad QoS", with(func(c *rig.Config) { c.Sensors[6].MQTT.QoS = qos(3) }), Options{}, ErrBinding,
			"mqtt.qos 3 must be 0, 1 or 2"},
		{"duplicate id", with(func(c *rig.Config) { c.Sensors[1].ID = "PS1" }), Options{}, ErrBinding,
			`sensor "PS1" (sensors[1]): duplicate sensor id`},
		{"no sensors", &rig.Config{RigType: "empty"}, Options{}, ErrBinding, `rig "empty" has no sensors`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.opts.Broker == "" && tt.name != "no broker" {
				tt.opts.Broker = "tcp://127.0.0.1:1883"
			}
			_, err := New(tt.cfg, tt.opts)
			require.Error(t, err)
			assert.ErrorIs(t, err, tt.is)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

func TestNewCollectsAllBindingErrors(t *testing.T) {
	cfg := testRig("x", "g")
	cfg.Sensors[0].MQTT.Topic = ""
	cfg.Sensors[6].MQTT.Codec = "xml"
	_, err := New(cfg, Options{Broker: "tcp://h:1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"PS1"`)
	assert.Contains(t, err.Error(), `"CE"`)
}

func TestTopics(t *testing.T) {
	p, err := New(testRig("x", "g"), Options{Broker: "tcp://h:1"})
	require.NoError(t, err)
	assert.Equal(t, map[string][]string{
		"x/fast": {"PS1", "PS2"}, "x/flow": {"FS1", "FS2"}, "x/slow": {"TS1", "TS2"},
		"x/virtual/CE": {"CE"}, "spBv1.0/g/DDATA/edge1/pump": {"SP1", "SP2"},
	}, p.Topics())
}

// TestGrouping checks how readings become messages, and that every
// reading survives encoding with its seq.
func TestGrouping(t *testing.T) {
	tests := []struct {
		name       string
		ticks      int // 10 ms grid steps per source batch
		flush      time.Duration
		perMessage int
		// wantFast is the number of messages on the binary topic (two
		// 100 Hz sensors, 400 readings, 200 ticks).
		wantFast int
	}{
		{"one message per topic and batch", 1, 0, 0, 200},
		{"batches of 10 ticks", 10, 0, 0, 20},
		{"flush interval 100ms", 1, 100 * time.Millisecond, 0, 19}, // a flush every 11 ticks (t-first >= 100ms), the rest at the end
		{"cap of 7 readings", 10, 0, 7, 60},                        // 20 per batch: 7+7+6
		{"cap with flush interval", 1, time.Second, 5, 80},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testRig("x", "g")
			fc := &fakeConn{}
			p := newFake(t, cfg, Options{FlushInterval: tt.flush, MaxReadingsPerMessage: tt.perMessage}, fc)
			// 200 ticks of 10 ms: 400 PS + 40 FS + 4 TS + 2 CE + 40 SP.
			src := &genSource{Cfg: cfg, Total: 486, Ticks: tt.ticks}
			st, err := p.Run(context.Background(), src, t0)
			require.NoError(t, err)

			msgs := fc.messages()
			got := decodeAll(t, cfg, msgs)
			checkExactlyOnce(t, cfg, src.emitted(), got)
			assert.EqualValues(t, 486, st.Readings)
			assert.EqualValues(t, len(msgs), st.Messages)
			assert.Zero(t, st.Errors)

			perTopic := map[string]int{}
			for _, m := range msgs {
				perTopic[m.Topic]++
				assert.EqualValues(t, 1, m.QoS, "default QoS")
			}
			assert.Equal(t, tt.wantFast, perTopic["x/fast"], "binary messages")
			assert.Equal(t, 2, perTopic["x/virtual/CE"], "json: one message per reading")
			limit := tt.perMessage
			if limit == 0 {
				limit = DefaultMaxReadingsPerMessage
			}
			for _, g := range got {
				assert.LessOrEqual(t, g.Count, limit)
				if g.Topic == "x/virtual/CE" {
					assert.Equal(t, 1, g.Count)
				}
			}
		})
	}
}

// TestPayloadLimit: a message that would exceed codec.MaxPayload is split.
func TestPayloadLimit(t *testing.T) {
	cfg := testRig("x", "g")
	fc := &fakeConn{}
	p := newFake(t, cfg, Options{MaxReadingsPerMessage: codec.MaxReadings}, fc)
	batch := make([]reading.Reading, 60000)
	for i := range batch {
		batch[i] = reading.Reading{Sensor: "TS1", Time: t0.Add(time.Duration(i) * time.Millisecond), Value: 1e6 + float64(i)/7}
	}
	st, err := p.Run(context.Background(), sourceFunc(func(ctx context.Context, _ time.Time, emit func([]reading.Reading) error) error {
		return emit(batch)
	}), t0)
	require.NoError(t, err)
	msgs := fc.messages()
	require.Greater(t, len(msgs), 1)
	for _, m := range msgs {
		assert.LessOrEqual(t, len(m.Payload), codec.MaxPayload)
	}
	assert.EqualValues(t, 60000, st.Readings)
	checkExactlyOnce(t, cfg, batch, decodeAll(t, cfg, msgs))
}

func TestQoSFromBinding(t *testing.T) {
	cfg := testRig("x", "g")
	for i := range cfg.Sensors {
		if cfg.Sensors[i].MQTT.Topic == "x/flow" {
			q := 2
			cfg.Sensors[i].MQTT.QoS = &q
		}
		if cfg.Sensors[i].ID == "CE" {
			q := 0
			cfg.Sensors[i].MQTT.QoS = &q
		}
	}
	fc := &fakeConn{}
	p := newFake(t, cfg, Options{}, fc)
	_, err := p.Run(context.Background(), &genSource{Cfg: cfg, Total: 486, Ticks: 10}, t0)
	require.NoError(t, err)
	want := map[string]byte{"x/fast": 1, "x/flow": 2, "x/slow": 1, "x/virtual/CE": 0, "spBv1.0/g/DDATA/edge1/pump": 1}
	for _, m := range fc.messages() {
		assert.Equal(t, want[m.Topic], m.QoS, m.Topic)
	}
}

func TestSeq(t *testing.T) {
	cfg := testRig("x", "g")
	fc := &fakeConn{}
	p := newFake(t, cfg, Options{}, fc)
	rs := []reading.Reading{
		{Sensor: "PS1", Time: t0, Value: 1},                                     // 1
		{Sensor: "PS1", Time: t0.Add(time.Millisecond), Value: 2, Seq: 10},      // kept
		{Sensor: "PS1", Time: t0.Add(2 * time.Millisecond), Value: 3},           // 11
		{Sensor: "PS2", Time: t0.Add(2 * time.Millisecond), Value: 3},           // 1
		{Sensor: "SP1", Time: t0.Add(2 * time.Millisecond), Value: 3, Seq: 500}, // message seq 0
	}
	_, err := p.Run(context.Background(), sliceSource{rs}, t0)
	require.NoError(t, err)
	got := decodeAll(t, cfg, fc.messages())
	seqs := map[string][]uint64{}
	for _, g := range got {
		seqs[g.Sensor] = append(seqs[g.Sensor], g.Seq)
	}
	assert.Equal(t, map[string][]uint64{"PS1": {1, 10, 11}, "PS2": {1}, "SP1": {0}}, seqs)
}

// sliceSource emits each reading as its own batch.
type sliceSource struct{ rs []reading.Reading }

func (s sliceSource) Stream(ctx context.Context, _ time.Time, emit func([]reading.Reading) error) error {
	for i := range s.rs {
		if err := emit(s.rs[i : i+1]); err != nil {
			return err
		}
	}
	return nil
}

func TestSparkplugSeqWraps(t *testing.T) {
	cfg := testRig("x", "g")
	fc := &fakeConn{}
	p := newFake(t, cfg, Options{}, fc)
	var rs []reading.Reading
	for i := range 300 {
		rs = append(rs, reading.Reading{Sensor: "SP1", Time: t0.Add(time.Duration(i) * time.Millisecond), Value: float64(i)})
	}
	_, err := p.Run(context.Background(), sliceSource{rs}, t0)
	require.NoError(t, err)
	got := decodeAll(t, cfg, fc.messages())
	require.Len(t, got, 300)
	for i, g := range got {
		require.EqualValues(t, i%256, g.Seq, "message %d", i)
	}
}

// TestPacing runs a 10 s stream with a fake clock: the publisher must
// sleep exactly the simulated span over the speed, and no message may
// leave before its readings are due.
func TestPacing(t *testing.T) {
	for _, speed := range []float64{0, 1, 10, 0.5} {
		t.Run(fmt.Sprint("speed=", speed), func(t *testing.T) {
			cfg := testRig("x", "g")
			clk := newFakeClock()
			fc := &fakeConn{Clock: clk}
			p := newFake(t, cfg, Options{Speed: speed, Clock: clk}, fc)
			src := &genSource{Cfg: cfg, Total: 2430, Ticks: 10} // 1000 ticks: 0 .. 9.99 s
			wall0 := clk.Now()
			st, err := p.Run(context.Background(), src, t0)
			require.NoError(t, err)
			span := 9990 * time.Millisecond
			require.Equal(t, t0.Add(span), st.SimEnd)
			if speed == 0 {
				assert.Zero(t, clk.slept(), "speed 0 never sleeps")
				assert.Zero(t, st.Elapsed)
				return
			}
			want := time.Duration(float64(span) / speed)
			assert.Equal(t, want, clk.slept())
			assert.Equal(t, want, st.Elapsed)
			assert.Zero(t, st.MaxLag)
			// Each message left at the due time of its newest reading.
			got := decodeAll(t, cfg, fc.messages())
			msgs := fc.messages()
			newest := map[int]time.Time{}
			for _, g := range got {
				if g.Time.After(newest[g.Msg]) {
					newest[g.Msg] = g.Time
				}
			}
			for i, m := range msgs {
				due := wall0.Add(time.Duration(float64(newest[i].Sub(t0)) / speed))
				require.False(t, m.At.Before(due), "message %d sent %s before its readings were due", i, due.Sub(m.At))
			}
		})
	}
}

func TestPacingReportsLag(t *testing.T) {
	cfg := testRig("x", "g")
	clk := newFakeClock()
	slow := &fakeConn{Token: func(string) mqtt.Token {
		clk.mu.Lock()
		clk.now = clk.now.Add(50 * time.Millisecond) // each publish takes 50 ms
		clk.mu.Unlock()
		return doneToken(nil)
	}}
	p := newFake(t, cfg, Options{Speed: 1, Clock: clk}, slow)
	st, err := p.Run(context.Background(), &genSource{Cfg: cfg, Total: 243, Ticks: 10}, t0)
	require.NoError(t, err)
	assert.Greater(t, st.MaxLag, 100*time.Millisecond)
	assert.EqualValues(t, 243, st.Readings, "behind schedule, nothing is skipped")
}

func TestUnknownSensor(t *testing.T) {
	p := newFake(t, testRig("x", "g"), Options{}, &fakeConn{})
	_, err := p.Run(context.Background(), sliceSource{[]reading.Reading{
		{Sensor: "PS1", Time: t0}, {Sensor: "PS9", Time: t0},
	}}, t0)
	require.ErrorIs(t, err, ErrUnknownSensor)
	assert.Contains(t, err.Error(), `sensor "PS9" (rig "test-rig")`)
}

func TestEncodeError(t *testing.T) {
	fc := &fakeConn{}
	p := newFake(t, testRig("x", "g"), Options{}, fc)
	st, err := p.Run(context.Background(), sliceSource{[]reading.Reading{
		{Sensor: "PS1", Time: t0, Value: 1}, {Sensor: "PS1", Time: t0, Value: math.NaN()}, {Sensor: "PS1", Time: t0, Value: 3},
	}}, t0)
	require.ErrorIs(t, err, ErrEncode)
	assert.Contains(t, err.Error(), `topic "x/fast"`)
	assert.Contains(t, err.Error(), "NaN")
	assert.EqualValues(t, 1, st.Messages)
}

func TestSourceError(t *testing.T) {
	boom := errors.New("boom")
	p := newFake(t, testRig("x", "g"), Options{}, &fakeConn{})
	_, err := p.Run(context.Background(), sourceFunc(func(ctx context.Context, _ time.Time, emit func([]reading.Reading) error) error {
		return boom
	}), t0)
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "source: boom")
}

type sourceFunc func(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error

func (f sourceFunc) Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error {
	return f(ctx, start, emit)
}

// TestPublishErrorsCounted: failed publishes are counted, not fatal.
func TestPublishErrorsCounted(t *testing.T) {
	cfg := testRig("x", "g")
	var n atomic.Int64
	fc := &fakeConn{Token: func(topic string) mqtt.Token {
		if n.Add(1)%2 == 0 {
			return doneToken(errors.New("not connected"))
		}
		return doneToken(nil)
	}}
	p := newFake(t, cfg, Options{}, fc)
	st, err := p.Run(context.Background(), &genSource{Cfg: cfg, Total: 486, Ticks: 1}, t0)
	require.NoError(t, err)
	msgs := len(fc.messages())
	assert.EqualValues(t, msgs/2, st.Errors)
	assert.EqualValues(t, msgs-msgs/2, st.Messages)
	assert.EqualValues(t, 486, st.Readings+st.FailedReadings)
	assert.Contains(t, st.String(), "failed")
}

// TestWindow: no more than MaxInFlight messages are ever unacknowledged,
// and the source blocks meanwhile.
func TestWindow(t *testing.T) {
	cfg := testRig("x", "g")
	const window = 5
	tokens := make(chan *fakeToken, 1000)
	var outstanding, peak atomic.Int64
	fc := &fakeConn{Token: func(string) mqtt.Token {
		tok := newToken()
		if o := outstanding.Add(1); o > peak.Load() {
			peak.Store(o)
		}
		tokens <- tok
		return tok
	}}
	p := newFake(t, cfg, Options{MaxInFlight: window}, fc)
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), &genSource{Cfg: cfg, Total: 486, Ticks: 1}, t0)
		done <- err
	}()
	// Let the publisher fill the window, check it stops there, then ack
	// slowly until the end.
	require.Eventually(t, func() bool { return outstanding.Load() == window }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	assert.EqualValues(t, window, outstanding.Load(), "publisher went past the window")
	for {
		select {
		case err := <-done:
			require.NoError(t, err)
			assert.EqualValues(t, window, peak.Load())
			st := p.Stats()
			assert.EqualValues(t, 486, st.Readings)
			return
		case tok := <-tokens:
			outstanding.Add(-1)
			close(tok.done)
		}
	}
}

// TestCancelDrainTimeout: with a broker that never acknowledges, a
// cancelled Run gives up after DrainTimeout and counts what is unconfirmed.
func TestCancelDrainTimeout(t *testing.T) {
	cfg := testRig("x", "g")
	fc := &fakeConn{Token: func(string) mqtt.Token { return newToken() }}
	p := newFake(t, cfg, Options{MaxInFlight: 8, DrainTimeout: 100 * time.Millisecond}, fc)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(fc.messages()) < 8 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	began := time.Now()
	st, err := p.Run(ctx, endless{}, t0)
	took := time.Since(began)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, took, 2*time.Second)
	assert.EqualValues(t, 8, st.Unconfirmed)
	assert.Zero(t, st.Messages)
	assert.Positive(t, st.FailedReadings)
}

func TestRunGuards(t *testing.T) {
	cfg := testRig("x", "g")
	block := make(chan struct{})
	fc := &fakeConn{Token: func(string) mqtt.Token {
		<-block
		return doneToken(nil)
	}}
	p := newFake(t, cfg, Options{}, fc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = p.Run(context.Background(), sliceSource{[]reading.Reading{{Sensor: "PS1", Time: t0}}}, t0)
	}()
	require.Eventually(t, func() bool { return p.running.Load() }, time.Second, time.Millisecond)
	_, err := p.Run(context.Background(), sliceSource{}, t0)
	assert.ErrorIs(t, err, ErrRunning)
	close(block)
	<-done

	_, err = p.Run(context.Background(), nil, t0)
	assert.ErrorIs(t, err, ErrOptions)
	require.NoError(t, p.Close())
	require.NoError(t, p.Close(), "Close is idempotent")
	_, err = p.Run(context.Background(), sliceSource{}, t0)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, p.Connect(context.Background()), ErrClosed)
}

func TestLimiter(t *testing.T) {
	l := limiter{every: time.Second}
	ok, n := l.allow(t0)
	assert.True(t, ok)
	assert.Zero(t, n)
	for i := range 3 {
		ok, _ = l.allow(t0.Add(time.Duration(i) * time.Millisecond))
		assert.False(t, ok)
	}
	ok, n = l.allow(t0.Add(time.Second))
	assert.True(t, ok)
	assert.Equal(t, 3, n)
}

func TestSparkplugNode(t *testing.T) {
	assert.Equal(t, "g/n", SparkplugNode("spBv1.0/g/DDATA/n/dev"))
	assert.Equal(t, "g/n", SparkplugNode("spBv1.0/g/NDATA/n"))
	assert.Equal(t, "plant/pump", SparkplugNode("plant/pump"))
}

func TestAckStore(t *testing.T) {
	s := newAckStore()
	s.Open()
	pub := func(id uint16) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.MessageID = 1, id
		return p
	}
	isDone := func(a *ack) bool {
		select {
		case <-a.done:
			return true
		default:
			return false
		}
	}
	assert.True(t, s.watch(7).ok, "nothing stored: acknowledged")

	s.Put("o.7", pub(7))
	a := s.watch(7)
	assert.False(t, isDone(a))
	s.Del("o.7")
	assert.True(t, isDone(a))
	assert.True(t, a.ok)
	assert.Nil(t, s.Get("o.7"))

	s.Put("o.8", pub(8))
	b := s.watch(8)
	s.Put("o.8", pub(8)) // id reused without an ack
	assert.True(t, isDone(b))
	assert.False(t, b.ok)

	c := s.watch(8)
	s.Reset()
	assert.True(t, isDone(c))
	assert.False(t, c.ok)
}
