package ingest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The tests in this file drive the message handler directly with fake
// messages: decoding, validation, duplicates, gaps, Sparkplug B births and
// failing decoders, without a broker.

// fakeMsg is an mqtt.Message.
type fakeMsg struct {
	topic   string
	payload []byte
	dup     bool
	acks    atomic.Int32
}

func (m *fakeMsg) Duplicate() bool   { return m.dup }
func (m *fakeMsg) Qos() byte         { return 1 }
func (m *fakeMsg) Retained() bool    { return false }
func (m *fakeMsg) Topic() string     { return m.topic }
func (m *fakeMsg) MessageID() uint16 { return 1 }
func (m *fakeMsg) Payload() []byte   { return m.payload }
func (m *fakeMsg) Ack()              { m.acks.Add(1) }

// fakeDecoder returns what Fn returns.
type fakeDecoder struct {
	Fn func(b codec.Binding, payload []byte) ([]reading.Reading, error)
}

func (d *fakeDecoder) Decode(b codec.Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error) {
	rs, err := d.Fn(b, payload)
	if err != nil {
		return dst, err
	}
	return append(dst, rs...), nil
}

var clock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const spDataTopic = "spBv1.0/g/DDATA/n/d"

// unitRig: A (json, scaled), B and C (json-batch), I inactive on B's
// topic, P on a plugin codec, SP1 and SP2 on a Sparkplug B device.
func unitRig() *rig.Config {
	s := func(id, topic, c string, lo, hi float64) rig.Sensor {
		return rig.Sensor{ID: id, Kind: rig.KindPressure, Unit: "bar", RateHz: 1, Range: rig.Range{Min: lo, Max: hi},
			MQTT: rig.MQTTBinding{Topic: topic, Codec: c}}
	}
	a := s("A", "t/a", "json", 0, 100)
	a.Scale, a.Offset = 2, 1
	i := s("I", "t/b", "json-batch", 0, 10)
	i.Inactive = true
	return &rig.Config{RigType: "unit", Sensors: []rig.Sensor{a,
		s("B", "t/b", "json-batch", 0, 10), s("C", "t/b", "json-batch", 0, 10), i,
		s("P", "t/p", "plugin:fake", 0, 10),
		s("SP1", spDataTopic, "sparkplugb", 0, 10), s("SP2", spDataTopic, "sparkplugb", 0, 10)}}
}

// harness runs the handler on one session without a broker.
type harness struct {
	t   *testing.T
	in  *Ingest
	s   *session
	dec *fakeDecoder
}

func newHarness(t *testing.T, opts Options) *harness {
	dec := &fakeDecoder{Fn: func(b codec.Binding, p []byte) ([]reading.Reading, error) {
		return codec.JSON{}.Decode(b, p, nil)
	}}
	opts.Broker = "tcp://unused:1883"
	opts.Logger = testLogger(t)
	opts.Now = func() time.Time { return clock }
	if opts.ClockSynced == nil {
		opts.ClockSynced = func() bool { return true } // whatever the test machine's kernel says
	}
	opts.Plugins = func(name string) (Decoder, error) {
		if name != "plugin:fake" {
			return nil, fmt.Errorf("no plugin %s", name)
		}
		return dec, nil
	}
	in, err := New(unitRig(), newStore(), opts)
	require.NoError(t, err)
	return &harness{t: t, in: in, dec: dec, s: &session{in: in, queue: make(chan *item, 16),
		budget: newBudget(16, 1<<20), stop: make(chan struct{}), abort: make(chan struct{})}}
}

// send handles one message and commits it as if stored; it returns the
// item (nil if the handler dropped the message).
func (h *harness) send(topic, payload string) *item {
	h.t.Helper()
	m := &fakeMsg{topic: topic, payload: []byte(payload)}
	h.in.handle(h.s, m)
	select {
	case it := <-h.s.queue:
		h.in.commit(h.s, []*item{it})
		require.EqualValues(h.t, 1, m.acks.Load(), "acknowledged once")
		return it
	default:
		require.Zero(h.t, m.acks.Load())
		return nil
	}
}

func js(v float64, ts time.Time, seq int) string {
	return fmt.Sprintf(`{"v":%v,"ts":%q,"seq":%d}`, v, ts.Format(time.RFC3339Nano), seq)
}

func batch(rs ...string) string { return `{"readings":[` + strings.Join(rs, ",") + `]}` }

func jr(sensor string, v float64, ts time.Time, seq int) string {
	return fmt.Sprintf(`{"sensor":%q,"v":%v,"ts":%q,"seq":%d}`, sensor, v, ts.Format(time.RFC3339Nano), seq)
}

func rejected(it *item) map[Reason]uint32 {
	out := map[Reason]uint32{}
	for i, n := range it.rejected {
		if n > 0 {
			out[Reasons[i]] = n
		}
	}
	return out
}

func TestValidate(t *testing.T) {
	ts := clock.Add(-time.Minute)
	for _, tc := range []struct {
		name    string
		opts    Options
		topic   string
		payload string
		values  []float64 // stored values
		want    map[Reason]uint32
	}{
		{"scale and offset", Options{}, "t/a", js(10, ts, 1), []float64{21}, nil},
		{"out of range", Options{}, "t/a", js(60, ts, 1), nil, map[Reason]uint32{ReasonOutOfRange: 1}},
		{"within tolerance", Options{}, "t/a", js(54, ts, 1), []float64{109}, nil},
		{"below range", Options{}, "t/a", js(-6, ts, 1), nil, map[Reason]uint32{ReasonOutOfRange: 1}},
		{"tolerance off", Options{RangeTolerance: -1}, "t/a", js(1e6, ts, 1), []float64{2e6 + 1}, nil},
		{"bad quality not range checked", Options{}, "t/a", `{"v":1e6,"q":2,"ts":"` + ts.Format(time.RFC3339) + `"}`, []float64{2e6 + 1}, nil},
		{"unknown quality is bad: not range checked", Options{}, "t/a", `{"v":1e6,"q":200,"ts":"` + ts.Format(time.RFC3339) + `"}`, []float64{2e6 + 1}, nil},
		{"uncertain quality range checked", Options{}, "t/a", `{"v":1e6,"q":1,"ts":"` + ts.Format(time.RFC3339) + `"}`, nil, map[Reason]uint32{ReasonOutOfRange: 1}},
		{"overflow to inf", Options{}, "t/a", js(1.7e308, ts, 1), nil, map[Reason]uint32{ReasonNotFinite: 1}},
		{"unknown and misrouted sensors", Options{}, "t/b", batch(jr("Z", 1, ts, 1), jr("A", 1, ts, 1), jr("B", 1, ts, 1)),
			[]float64{1}, map[Reason]uint32{ReasonUnknownSensor: 2}},
		{"inactive", Options{}, "t/b", batch(jr("I", 1, ts, 1)), nil, map[Reason]uint32{ReasonInactiveSensor: 1}},
		{"future", Options{}, "t/a", js(1, clock.Add(2*time.Minute), 1), nil, map[Reason]uint32{ReasonFuture: 1}},
		{"future within skew", Options{}, "t/a", js(1, clock.Add(30*time.Second), 1), []float64{3}, nil},
		{"too old", Options{MaxAge: time.Hour}, "t/a", js(1, clock.Add(-2*time.Hour), 1), nil, map[Reason]uint32{ReasonTooOld: 1}},
		{"before 1678", Options{}, "t/p", "ancient", nil, map[Reason]uint32{ReasonTooOld: 1}},
		{"malformed", Options{}, "t/a", `{"v":`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"nan from json", Options{}, "t/a", `{"v":NaN}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"wrong type: string value", Options{}, "t/a", `{"v":"high","ts":"` + ts.Format(time.RFC3339) + `"}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"wrong type: bool value", Options{}, "t/a", `{"v":true,"ts":"` + ts.Format(time.RFC3339) + `"}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"wrong type: numeric time", Options{}, "t/a", `{"v":1,"ts":{"s":1}}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"wrong type: batch not a list", Options{}, "t/b", `{"readings":{"sensor":"B","v":1}}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"inf from json string", Options{}, "t/a", `{"v":"Infinity"}`, nil, map[Reason]uint32{ReasonMalformed: 1}},
		{"nan from plugin", Options{}, "t/p", "nan", nil, map[Reason]uint32{ReasonNotFinite: 1}},
		{"unknown topic", Options{}, "t/zzz", js(1, ts, 1), nil, map[Reason]uint32{ReasonUnknownTopic: 1}},
		{"duplicate within a message", Options{}, "t/b", batch(jr("B", 1, ts, 1), jr("B", 1, ts, 1)), []float64{1},
			map[Reason]uint32{ReasonDuplicate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts)
			h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) {
				switch string(p) {
				case "nan":
					return []reading.Reading{{Sensor: "P", Time: ts, Value: math.NaN()}}, nil
				case "ancient":
					return []reading.Reading{{Sensor: "P", Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Value: 1}}, nil
				}
				return nil, errors.New("unexpected")
			}
			it := h.send(tc.topic, tc.payload)
			require.NotNil(t, it)
			var got []float64
			for _, r := range it.readings {
				got = append(got, r.Value)
			}
			assert.Equal(t, tc.values, got)
			want := tc.want
			if want == nil {
				want = map[Reason]uint32{}
			}
			assert.Equal(t, want, rejected(it))
			st := h.in.Stats()
			assert.EqualValues(t, len(tc.values), st.Readings)
			assert.EqualValues(t, 1, st.Acked)
			for r, n := range want {
				assert.EqualValues(t, n, st.Rejected[r], "reason %s", r)
			}
			if len(want) > 0 {
				rej := h.in.Rejections()
				require.Len(t, rej, len(want), "one kept per reason and message")
				assert.NotEmpty(t, rej[0].Detail)
				t.Log(rej[0].Reason, ": ", rej[0].Detail)
			}
		})
	}
}

func TestSeqGapsDuplicatesAndResets(t *testing.T) {
	h := newHarness(t, Options{})
	t0 := clock.Add(-time.Hour)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

	it := h.send("t/b", batch(jr("B", 1, at(1), 1), jr("B", 1, at(2), 2), jr("C", 1, at(2), 7)))
	assert.Len(t, it.readings, 3)
	assert.Zero(t, it.gaps)

	it = h.send("t/b", batch(jr("B", 1, at(5), 5), jr("C", 1, at(3), 8)))
	assert.Len(t, it.readings, 2)
	assert.EqualValues(t, 2, it.gaps, "B 3 and 4 are missing")

	// The same message again (a redelivery): all duplicates.
	it = h.send("t/b", batch(jr("B", 1, at(5), 5), jr("C", 1, at(3), 8)))
	assert.Empty(t, it.readings)
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 2}, rejected(it))

	// The publisher restarted: seq 1 again, with a newer time.
	it = h.send("t/b", batch(jr("B", 1, at(10), 1), jr("B", 1, at(11), 2)))
	assert.Len(t, it.readings, 2)
	assert.EqualValues(t, 1, it.resets)
	assert.Zero(t, it.gaps)

	// Readings without a seq: a time not after the last is a duplicate.
	it = h.send("t/b", batch(`{"sensor":"C","v":1,"ts":"`+at(3).Format(time.RFC3339)+`"}`,
		`{"sensor":"C","v":1,"ts":"`+at(4).Format(time.RFC3339)+`"}`))
	assert.Len(t, it.readings, 1)
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it))

	st := h.in.Stats()
	assert.EqualValues(t, 2, st.Gaps)
	assert.EqualValues(t, 1, st.SeqResets)
	assert.EqualValues(t, 3, st.Rejected[ReasonDuplicate])
	assert.EqualValues(t, 8, st.Readings)
}

// TestRollbackOnNewSession: readings handled but never stored (the
// session ended) are not duplicates when they come again.
func TestRollbackOnNewSession(t *testing.T) {
	h := newHarness(t, Options{})
	ts := clock.Add(-time.Minute)
	h.send("t/b", batch(jr("B", 1, ts, 1)))
	m := &fakeMsg{topic: "t/b", payload: []byte(batch(jr("B", 1, ts.Add(time.Second), 2)))}
	h.in.handle(h.s, m)
	<-h.s.queue // handled, then the session ends: never stored
	// What a new session does first:
	h.in.cmu.Lock()
	copy(h.in.pending, h.in.committed)
	h.in.cmu.Unlock()
	it := h.send("t/b", string(m.payload))
	assert.Len(t, it.readings, 1, "not a duplicate: it was never stored")
}

// TestStoppedSessionDropsMessages: after the session stops, the handler
// neither queues nor acknowledges.
func TestStoppedSessionDropsMessages(t *testing.T) {
	h := newHarness(t, Options{})
	h.s.halt(errors.New("test"), false)
	assert.Nil(t, h.send("t/a", js(1, clock, 1)))
}

// spMetric encodes a Sparkplug B metric: name (may be ""), alias (0:
// none), double value.
func spMetric(name string, alias uint64, ms uint64, v float64) []byte {
	var m []byte
	if name != "" {
		m = protowire.AppendTag(m, 1, protowire.BytesType)
		m = protowire.AppendString(m, name)
	}
	if alias != 0 {
		m = protowire.AppendTag(m, 2, protowire.VarintType)
		m = protowire.AppendVarint(m, alias)
	}
	m = protowire.AppendTag(m, 3, protowire.VarintType)
	m = protowire.AppendVarint(m, ms)
	m = protowire.AppendTag(m, 4, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(codec.SparkplugDouble))
	m = protowire.AppendTag(m, 13, protowire.Fixed64Type)
	return protowire.AppendFixed64(m, math.Float64bits(v))
}

// spPayload encodes a Sparkplug B payload with seq and metrics.
func spPayload(seq uint64, metrics ...[]byte) string {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, uint64(clock.UnixMilli()))
	for _, m := range metrics {
		p = protowire.AppendTag(p, 2, protowire.BytesType)
		p = protowire.AppendBytes(p, m)
	}
	p = protowire.AppendTag(p, 3, protowire.VarintType)
	p = protowire.AppendVarint(p, seq)
	return string(p)
}

func TestSparkplug(t *testing.T) {
	h := newHarness(t, Options{})
	subs := h.in.Subscriptions()
	assert.Contains(t, subs, "spBv1.0/g/NBIRTH/n")
	assert.Contains(t, subs, "spBv1.0/g/DBIRTH/n/d")
	ms := uint64(clock.Add(-time.Minute).UnixMilli())

	// DATA by alias before any birth: refused.
	it := h.send(spDataTopic, spPayload(0, spMetric("", 7, ms, 1)))
	assert.Equal(t, map[Reason]uint32{ReasonMalformed: 1}, rejected(it))

	// Births: the node's (seq 0) and the device's (seq 1) with aliases.
	it = h.send("spBv1.0/g/NBIRTH/n", spPayload(0))
	assert.Empty(t, rejected(it))
	it = h.send("spBv1.0/g/DBIRTH/n/d", spPayload(1, spMetric("SP1", 7, ms, 0), spMetric("SP2", 8, ms, 0)))
	assert.Empty(t, rejected(it))
	assert.Empty(t, it.readings, "births are not stored")

	seq := uint64(2)
	send := func(n int) *item {
		ms++
		it := h.send(spDataTopic, spPayload(seq%256, spMetric("", 7, ms, float64(n)), spMetric("", 8, ms, 2)))
		seq++
		return it
	}
	it = send(1)
	require.Len(t, it.readings, 2)
	assert.Equal(t, "SP1", it.readings[0].Sensor)
	assert.Zero(t, it.gaps)
	for range 300 { // across the wrap at 255
		it = send(1)
		require.Len(t, it.readings, 2)
		require.Zero(t, it.gaps)
	}
	seq += 3 // three messages lost
	it = send(1)
	assert.EqualValues(t, 3, it.gaps)

	// A redelivered older message: no gap, duplicates by time.
	seq -= 2
	ms -= 2
	it = send(1)
	assert.Zero(t, it.gaps)
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 2}, rejected(it))

	// A new NBIRTH restarts the count at 0.
	h.send("spBv1.0/g/NBIRTH/n", spPayload(0))
	seq = 1
	ms += 10
	it = send(1)
	assert.Zero(t, it.gaps)
	assert.Equal(t, map[Reason]uint32{ReasonMalformed: 1}, rejected(it), "the aliases went with the old node session")
}

func TestPluginFailures(t *testing.T) {
	ts := clock.Add(-time.Minute)
	good := []reading.Reading{{Sensor: "P", Time: ts, Value: 1}}
	crash := fmt.Errorf("plugin:fake: %w: died", plugin.ErrFailed)
	restarting := fmt.Errorf("plugin:fake: %w: %w", plugin.ErrFailed, plugin.ErrRestarting)

	t.Run("recovers", func(t *testing.T) {
		h := newHarness(t, Options{})
		calls := 0
		h.dec.Fn = func(codec.Binding, []byte) ([]reading.Reading, error) {
			calls++
			switch calls {
			case 1:
				return nil, crash
			case 2, 3:
				return nil, restarting // not counted
			case 4:
				return nil, crash
			}
			return good, nil
		}
		it := h.send("t/p", "x")
		require.Len(t, it.readings, 1)
		assert.Empty(t, rejected(it))
		assert.EqualValues(t, 2, h.in.Stats().DecodeFailures)
		assert.Equal(t, 5, calls)
	})
	t.Run("poison payload", func(t *testing.T) {
		h := newHarness(t, Options{MaxDecodeFailures: 2})
		h.dec.Fn = func(codec.Binding, []byte) ([]reading.Reading, error) { return nil, crash }
		it := h.send("t/p", "x")
		assert.Equal(t, map[Reason]uint32{ReasonPluginFailed: 1}, rejected(it))
		assert.EqualValues(t, 2, h.in.Stats().DecodeFailures)
		assert.Contains(t, h.in.Rejections()[0].Detail, "gave up after 2 decoder failures")
	})
	t.Run("session stops while failing", func(t *testing.T) {
		h := newHarness(t, Options{})
		h.dec.Fn = func(codec.Binding, []byte) ([]reading.Reading, error) {
			h.s.halt(errors.New("stop"), false)
			return nil, restarting
		}
		assert.Nil(t, h.send("t/p", "x"), "not acknowledged")
	})
	t.Run("payload error", func(t *testing.T) {
		h := newHarness(t, Options{})
		h.dec.Fn = func(codec.Binding, []byte) ([]reading.Reading, error) {
			return nil, &codec.Error{Codec: "plugin:fake", Msg: "bad", Offset: -1, Reading: -1}
		}
		it := h.send("t/p", "x")
		assert.Equal(t, map[Reason]uint32{ReasonMalformed: 1}, rejected(it))
		assert.Zero(t, h.in.Stats().DecodeFailures)
	})
}

// TestBindingDefaults: the topic's only sensor and the arrival time reach
// the decoder.
func TestBindingDefaults(t *testing.T) {
	h := newHarness(t, Options{})
	var got codec.Binding
	h.dec.Fn = func(b codec.Binding, _ []byte) ([]reading.Reading, error) {
		got = b
		return nil, nil
	}
	h.send("t/p", "x")
	assert.Equal(t, "P", got.Sensor)
	assert.Equal(t, clock, got.Now)
	assert.Equal(t, "t/p", got.Topic)
	it := h.send("t/a", `{"v":3}`)
	require.Len(t, it.readings, 1)
	assert.Equal(t, reading.Reading{Sensor: "A", Time: clock, Value: 7}, it.readings[0])
}

func TestRejectionLogRateLimit(t *testing.T) {
	l := limiter{every: time.Second, last: map[Reason]time.Time{}, held: map[Reason]uint64{}}
	ok, n := l.allow(ReasonMalformed, clock)
	assert.True(t, ok)
	assert.Zero(t, n)
	for range 5 {
		ok, _ = l.allow(ReasonMalformed, clock.Add(time.Millisecond))
		assert.False(t, ok)
	}
	ok, _ = l.allow(ReasonDuplicate, clock)
	assert.True(t, ok, "reasons are limited apart")
	ok, n = l.allow(ReasonMalformed, clock.Add(time.Second))
	assert.True(t, ok)
	assert.EqualValues(t, 5, n)
}

func TestLatencyHistogram(t *testing.T) {
	h := newHistogram()
	for i := 1; i <= 100; i++ {
		h.observe(time.Duration(i) * time.Millisecond)
	}
	l := h.snapshot()
	assert.EqualValues(t, 100, l.Count)
	assert.Equal(t, 100*time.Millisecond, l.Max)
	assert.InDelta(t, 50*time.Millisecond, l.P50, float64(time.Millisecond))
	assert.InDelta(t, 99*time.Millisecond, l.P99, float64(time.Millisecond))
	assert.Equal(t, 5050*time.Millisecond, l.Sum)
	assert.EqualValues(t, 100, l.Buckets[len(l.Buckets)-1].Count)
	assert.Len(t, Reasons, numReasons)
}

func TestRate(t *testing.T) {
	var r rate
	for s := range 12 {
		r.add(clock.Add(time.Duration(s)*time.Second), 100)
	}
	assert.InDelta(t, 100, r.perSecond(clock.Add(12*time.Second)), 0.01)
	assert.Zero(t, r.perSecond(clock.Add(time.Hour)))
}

func TestRing(t *testing.T) {
	r := ring{buf: make([]Rejection, 3)}
	for i := range 5 {
		r.add(Rejection{Topic: fmt.Sprint(i)})
	}
	var got []string
	for _, x := range r.list() {
		got = append(got, x.Topic)
	}
	assert.Equal(t, []string{"2", "3", "4"}, got)
}
