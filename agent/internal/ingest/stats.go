package ingest

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Reason says why something was rejected. The values are stable: the
// metrics layer uses them as label values.
type Reason string

// Rejection reasons. Those marked (message) reject a whole MQTT message,
// the others one reading; Stats.Rejected counts in those units.
const (
	// ReasonUnknownTopic: a message on a topic no active sensor is bound
	// to (message). It can come from a subscription an older firmware
	// config left in the broker's persistent session.
	ReasonUnknownTopic Reason = "unknown_topic"
	// ReasonMalformed: the codec refused the payload (message), e.g. bad
	// syntax, a wrong type, a NaN in a JSON payload, a bad CRC.
	ReasonMalformed Reason = "malformed"
	// ReasonPluginFailed: a plugin codec crashed or hung on this payload
	// MaxDecodeFailures times (message).
	ReasonPluginFailed Reason = "plugin_failed"
	// ReasonPluginUnavailable: a message of a topic already held for its
	// unavailable plugin (it cannot start) with Options.MaxHeldPerTopic
	// messages in the session (message): acknowledged, so that the
	// broker's backlog for the agent stays bounded.
	ReasonPluginUnavailable Reason = "plugin_unavailable"
	// ReasonUnknownSensor: a reading of a sensor that the firmware config
	// does not bind to the topic it came on.
	ReasonUnknownSensor Reason = "unknown_sensor"
	// ReasonInactiveSensor: a reading of a sensor marked inactive.
	ReasonInactiveSensor Reason = "inactive_sensor"
	// ReasonNotFinite: a NaN or infinite value (after scale and offset).
	ReasonNotFinite Reason = "not_finite"
	// ReasonOutOfRange: a value beyond the sensor's range widened by
	// Options.RangeTolerance (readings of quality bad are not checked).
	ReasonOutOfRange Reason = "out_of_range"
	// ReasonFuture: a time more than Options.MaxFutureSkew ahead of the
	// agent's clock.
	ReasonFuture Reason = "future_time"
	// ReasonTooOld: a time more than Options.MaxAge in the past, or before
	// 1678 (outside int64 nanoseconds, which no store holds).
	ReasonTooOld Reason = "too_old"
	// ReasonDuplicate: a reading already stored: for a reading with a
	// sequence number, a seq and time not after the last stored of its
	// sensor; without one (and for Sparkplug B, whose seq wraps at 256),
	// a time not after the last stored. Redelivered messages land here. A
	// reading that took its message's arrival time (its payload had none)
	// is compared by time only with the readings of its message: its time
	// tells nothing of a redelivery, and after the agent's clock stepped
	// back it would be older than the mark. With a seq not after the
	// mark, it is a duplicate when the broker redelivers its message (the
	// MQTT DUP flag), else a restarted publisher (Stats.SeqResets).
	ReasonDuplicate Reason = "duplicate"
)

// reasonFutureUnsynced keys the log limiter for readings stored past
// MaxFutureSkew while the clock was not synchronised (not a rejection).
const reasonFutureUnsynced Reason = "future_unsynced"

// reasonOldUnsynced keys the log limiter for readings stored past
// MaxAge while the clock was not synchronised (not a rejection).
const reasonOldUnsynced Reason = "old_unsynced"

// numReasons is len(Reasons).
const numReasons = 11

// Reasons lists every Reason, in a stable order.
var Reasons = []Reason{ReasonUnknownTopic, ReasonMalformed, ReasonPluginFailed, ReasonUnknownSensor,
	ReasonInactiveSensor, ReasonNotFinite, ReasonOutOfRange, ReasonFuture, ReasonTooOld, ReasonDuplicate,
	ReasonPluginUnavailable}

func reasonIndex(r Reason) int {
	for i, x := range Reasons {
		if x == r {
			return i
		}
	}
	panic("ingest: unknown reason " + string(r))
}

// Rejection is one rejected message or reading, as kept for Rejections.
type Rejection struct {
	// Time is when it was rejected (the agent's clock).
	Time time.Time
	// Reason is why.
	Reason Reason
	// Topic is the MQTT topic.
	Topic string
	// Sensor is the reading's sensor id (empty for a whole message).
	Sensor string
	// Detail says what was wrong, quoting the bad value.
	Detail string
}

// Stats is a snapshot of the ingest's counters. Counters are totals since
// New; a message delivered twice counts twice in Messages and Bytes.
type Stats struct {
	// Connected says whether a session with the broker is up and
	// subscribed: the ingest's readiness.
	Connected bool
	// Sessions counts successful connections; ConnectFailures failed
	// attempts; ConnectionLost connections the broker or network ended.
	Sessions, ConnectFailures, ConnectionLost uint64
	// Messages and Bytes count messages received and their payload bytes;
	// Redelivered those flagged as redeliveries by the broker.
	Messages, Bytes, Redelivered uint64
	// Acked counts messages acknowledged to the broker.
	Acked uint64
	// Readings counts readings stored; Appends the Append calls that
	// stored them.
	Readings, Appends uint64
	// ReadingsPerSecond is the rate of stored readings over the last
	// RateWindow.
	ReadingsPerSecond float64
	// Rejected counts rejections by reason (messages or readings, see
	// Reason).
	Rejected map[Reason]uint64
	// Gaps counts readings that never arrived, by the publishers'
	// sequence numbers (per sensor; per edge node and message for
	// Sparkplug B). SeqResets counts sequence numbers that went back with
	// a newer time (a restarted publisher).
	Gaps, SeqResets uint64
	// StoreErrors counts failed Append calls; DecodeFailures messages a
	// decoder could not answer (left unacknowledged).
	StoreErrors, DecodeFailures uint64
	// PluginWaits counts messages whose plugin decoder was unavailable
	// (it could not start, or its restart was pending) when they arrived:
	// they are held unacknowledged until the plugin answers, and not
	// counted against their payload.
	PluginWaits uint64
	// PluginHeld counts messages left unacknowledged for the rest of their
	// session because their plugin stayed unavailable for
	// Options.MaxPluginWait, or an earlier message of their topic did
	// (the broker delivers them again in the next session).
	PluginHeld uint64
	// FutureUnsynced counts readings stored although their time was more
	// than Options.MaxFutureSkew ahead of the agent's clock, because that
	// clock was not synchronised (Options.ClockSynced): the agent's clock,
	// not the reading, is the likelier to be wrong.
	FutureUnsynced uint64
	// OldUnsynced counts readings stored although their time was more
	// than Options.MaxAge behind the agent's clock, because that clock was
	// not synchronised (Options.ClockSynced): a clock ahead, not the
	// reading, is the likelier to be wrong.
	OldUnsynced uint64
	// InFlight and InFlightBytes are the messages received and not yet
	// acknowledged or dropped, and the memory they hold (payload plus
	// decoded readings, as Options.MaxInFlightBytes counts it).
	InFlight, InFlightBytes int
	// AckLatency is the time from a message's arrival at the ingest to
	// its acknowledgement.
	AckLatency Latency
}

// RateWindow is the window of Stats.ReadingsPerSecond.
const RateWindow = 10 * time.Second

// Latency summarises a latency histogram.
type Latency struct {
	// Count and Sum are the number and total of the observations.
	Count uint64
	Sum   time.Duration
	// P50 and P99 are estimates from the histogram buckets, interpolated
	// linearly within the bucket that holds the quantile (as Prometheus'
	// histogram_quantile does); Max is exact.
	P50, P99, Max time.Duration
	// Buckets are the cumulative counts of observations <= UpperBound,
	// Prometheus style; the last bound is +Inf (math.MaxInt64).
	Buckets []Bucket
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound time.Duration
	Count      uint64
}

// latencyBounds are the histogram's upper bounds: 100 µs to 10 s, about
// 4 per decade, then +Inf.
var latencyBounds = func() []time.Duration {
	var b []time.Duration
	for d := 100 * time.Microsecond; d <= 10*time.Second; d *= 10 {
		b = append(b, d, 2*d, 5*d)
	}
	b = b[:len(b)-2] // end at 10 s
	return append(b, math.MaxInt64)
}()

// histogram is a lock-free latency histogram.
type histogram struct {
	counts []atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
}

func newHistogram() *histogram {
	return &histogram{counts: make([]atomic.Uint64, len(latencyBounds))}
}

func (h *histogram) observe(d time.Duration) {
	i := 0
	for d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

func (h *histogram) snapshot() Latency {
	var l Latency
	l.Buckets = make([]Bucket, len(latencyBounds))
	var cum uint64
	for i, b := range latencyBounds {
		cum += h.counts[i].Load()
		l.Buckets[i] = Bucket{UpperBound: b, Count: cum}
	}
	l.Count = cum
	l.Sum = time.Duration(h.sum.Load())
	l.Max = time.Duration(h.max.Load())
	quant := func(q float64) time.Duration {
		if cum == 0 {
			return 0
		}
		rank := q * float64(cum)
		var lower time.Duration
		var below uint64
		for _, b := range l.Buckets {
			if float64(b.Count) >= rank {
				// Interpolate within the bucket, as Prometheus'
				// histogram_quantile does.
				upper := min(b.UpperBound, l.Max)
				if upper <= lower || b.Count == below {
					return upper
				}
				f := (rank - float64(below)) / float64(b.Count-below)
				return lower + time.Duration(f*float64(upper-lower))
			}
			lower, below = b.UpperBound, b.Count
		}
		return l.Max
	}
	l.P50, l.P99 = quant(0.5), quant(0.99)
	return l
}

// rate counts events per second over RateWindow in one-second slots.
type rate struct {
	mu    sync.Mutex
	slots [10]struct {
		sec int64
		n   uint64
	}
}

func (r *rate) add(now time.Time, n uint64) {
	sec := now.Unix()
	r.mu.Lock()
	s := &r.slots[sec%int64(len(r.slots))]
	if s.sec != sec {
		s.sec, s.n = sec, 0
	}
	s.n += n
	r.mu.Unlock()
}

// perSecond averages the complete seconds of the window before now.
func (r *rate) perSecond(now time.Time) float64 {
	sec := now.Unix()
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum uint64
	for _, s := range r.slots {
		if s.sec < sec && s.sec >= sec-int64(len(r.slots)-1) {
			sum += s.n
		}
	}
	return float64(sum) / float64(len(r.slots)-1)
}

// counters are the ingest's live counters.
type counters struct {
	sessions, connectFailures, connLost atomic.Uint64
	messages, bytes, redelivered, acked atomic.Uint64
	readings, appends, gaps, seqResets  atomic.Uint64
	storeErrors, decodeFailures         atomic.Uint64
	pluginWaits, futureUnsynced         atomic.Uint64
	oldUnsynced                         atomic.Uint64
	pluginHeld                          atomic.Uint64
	rejected                            [numReasons]atomic.Uint64
	connected                           atomic.Bool
	inFlight, inFlightBytes             atomic.Int64
	ackLatency                          *histogram
	rate                                rate
}

func (c *counters) snapshot(now time.Time) Stats {
	s := Stats{
		Connected: c.connected.Load(),
		Sessions:  c.sessions.Load(), ConnectFailures: c.connectFailures.Load(), ConnectionLost: c.connLost.Load(),
		Messages: c.messages.Load(), Bytes: c.bytes.Load(), Redelivered: c.redelivered.Load(), Acked: c.acked.Load(),
		Readings: c.readings.Load(), Appends: c.appends.Load(),
		Gaps: c.gaps.Load(), SeqResets: c.seqResets.Load(),
		StoreErrors: c.storeErrors.Load(), DecodeFailures: c.decodeFailures.Load(), PluginWaits: c.pluginWaits.Load(),
		PluginHeld:     c.pluginHeld.Load(),
		FutureUnsynced: c.futureUnsynced.Load(), OldUnsynced: c.oldUnsynced.Load(),
		InFlight: int(c.inFlight.Load()), InFlightBytes: int(c.inFlightBytes.Load()),
		AckLatency:        c.ackLatency.snapshot(),
		ReadingsPerSecond: c.rate.perSecond(now),
		Rejected:          make(map[Reason]uint64, len(Reasons)),
	}
	for i, r := range Reasons {
		s.Rejected[r] = c.rejected[i].Load()
	}
	return s
}

// RejectedTotal sums Rejected.
func (s Stats) RejectedTotal() uint64 {
	var n uint64
	for _, v := range s.Rejected {
		n += v
	}
	return n
}

// LogValue implements slog.LogValuer: the counters as a group.
func (s Stats) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.Bool("connected", s.Connected),
		slog.Uint64("messages", s.Messages), slog.Uint64("bytes", s.Bytes), slog.Uint64("acked", s.Acked),
		slog.Uint64("readings", s.Readings), slog.Float64("readings_per_s", s.ReadingsPerSecond),
		slog.Uint64("rejected", s.RejectedTotal()), slog.Uint64("gaps", s.Gaps),
		slog.Uint64("store_errors", s.StoreErrors), slog.Uint64("decode_failures", s.DecodeFailures),
		slog.Uint64("plugin_waits", s.PluginWaits), slog.Uint64("plugin_held", s.PluginHeld), slog.Uint64("future_unsynced", s.FutureUnsynced),
		slog.Uint64("old_unsynced", s.OldUnsynced),
		slog.Duration("ack_p99", s.AckLatency.P99),
	}
	return slog.GroupValue(attrs...)
}

// limiter rate-limits log lines per reason.
type limiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[Reason]time.Time
	held  map[Reason]uint64
}

// allow reports whether a line for r may be logged now, and how many were
// held back since the last one.
func (l *limiter) allow(r Reason, now time.Time) (bool, uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.last[r]; ok && now.Sub(t) < l.every {
		l.held[r]++
		return false, 0
	}
	n := l.held[r]
	l.last[r] = now
	l.held[r] = 0
	return true, n
}

// ring keeps the latest rejections.
type ring struct {
	mu   sync.Mutex
	buf  []Rejection
	next int
	full bool
}

func (r *ring) add(x Rejection) {
	if len(r.buf) == 0 {
		return
	}
	r.mu.Lock()
	r.buf[r.next] = x
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

func (r *ring) list() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]Rejection(nil), r.buf[:r.next]...)
	}
	out := make([]Rejection, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}
