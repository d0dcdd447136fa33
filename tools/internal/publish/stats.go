package publish

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the counters of one Run.
type Stats struct {
	// Messages is the number of messages delivered: acknowledged by the
	// broker (QoS 1, 2) or written to the connection (QoS 0).
	Messages uint64
	// Readings is the number of readings in delivered messages.
	Readings uint64
	// Bytes is the payload size of delivered messages (MQTT headers and
	// topics not included).
	Bytes uint64
	// Errors is the number of messages that failed to publish.
	Errors uint64
	// FailedReadings is the number of readings in failed and in
	// unconfirmed messages, and of readings collected but not yet
	// published when the drain timeout ran out.
	FailedReadings uint64
	// Unconfirmed is the number of messages still unacknowledged when the
	// drain timeout ran out; the broker may or may not have them.
	Unconfirmed uint64
	// ConnectionLost counts losses of the broker connection during Run.
	ConnectionLost uint64
	// Elapsed is the wall time (by the Clock) from the start of Run to the
	// end (or to now, while running).
	Elapsed time.Duration
	// SimStart and SimEnd are the simulated times of the first and the
	// last reading handled (zero: none).
	SimStart, SimEnd time.Time
	// MaxLag is the longest a batch was published behind its paced
	// schedule (always 0 at Speed 0).
	MaxLag time.Duration
}

// ReadingsPerSecond is Readings over Elapsed (0 when Elapsed is 0).
func (s Stats) ReadingsPerSecond() float64 { return perSecond(s.Readings, s.Elapsed) }

// MessagesPerSecond is Messages over Elapsed (0 when Elapsed is 0).
func (s Stats) MessagesPerSecond() float64 { return perSecond(s.Messages, s.Elapsed) }

func perSecond(n uint64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// String is a one-line summary, e.g. for a command's final output.
func (s Stats) String() string {
	str := fmt.Sprintf("%d readings in %d messages (%d bytes) in %s: %.0f readings/s, %.0f messages/s",
		s.Readings, s.Messages, s.Bytes, s.Elapsed.Round(time.Millisecond), s.ReadingsPerSecond(), s.MessagesPerSecond())
	if !s.SimStart.IsZero() {
		str += fmt.Sprintf("; simulated %s", s.SimEnd.Sub(s.SimStart))
	}
	if s.Errors > 0 || s.Unconfirmed > 0 {
		str += fmt.Sprintf("; %d failed and %d unconfirmed messages (%d readings)", s.Errors, s.Unconfirmed, s.FailedReadings)
	}
	if s.ConnectionLost > 0 {
		str += fmt.Sprintf("; connection lost %d times", s.ConnectionLost)
	}
	return str
}

// LogValue makes Stats log as a group of attributes.
func (s Stats) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Uint64("messages", s.Messages),
		slog.Uint64("readings", s.Readings),
		slog.Uint64("bytes", s.Bytes),
		slog.Uint64("errors", s.Errors),
		slog.Uint64("failed_readings", s.FailedReadings),
		slog.Uint64("unconfirmed", s.Unconfirmed),
		slog.Uint64("connection_lost", s.ConnectionLost),
		slog.Duration("elapsed", s.Elapsed),
		slog.Duration("simulated", s.SimEnd.Sub(s.SimStart)),
		slog.Duration("max_lag", s.MaxLag),
		slog.Float64("readings_per_s", s.ReadingsPerSecond()),
		slog.Float64("messages_per_s", s.MessagesPerSecond()),
	)
}

// counters are the live Stats of a Run.
type counters struct {
	messages, readings, bytes        atomic.Uint64
	errors, failed, unconfirmed      atomic.Uint64
	connLost                         atomic.Uint64
	maxLag                           atomic.Int64
	mu                               sync.Mutex // guards the fields below
	started, ended, simStart, simEnd time.Time
}

func (c *counters) reset(now time.Time) {
	for _, a := range []*atomic.Uint64{&c.messages, &c.readings, &c.bytes, &c.errors, &c.failed, &c.unconfirmed, &c.connLost} {
		a.Store(0)
	}
	c.maxLag.Store(0)
	c.mu.Lock()
	c.started, c.ended, c.simStart, c.simEnd = now, time.Time{}, time.Time{}, time.Time{}
	c.mu.Unlock()
}

func (c *counters) sim(first, last time.Time) {
	c.mu.Lock()
	if c.simStart.IsZero() {
		c.simStart = first
	}
	c.simEnd = last
	c.mu.Unlock()
}

func (c *counters) lag(d time.Duration) {
	for {
		old := c.maxLag.Load()
		if int64(d) <= old || c.maxLag.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

func (c *counters) end(now time.Time) {
	c.mu.Lock()
	c.ended = now
	c.mu.Unlock()
}

func (c *counters) snapshot(clock Clock) Stats {
	s := Stats{
		Messages:       c.messages.Load(),
		Readings:       c.readings.Load(),
		Bytes:          c.bytes.Load(),
		Errors:         c.errors.Load(),
		FailedReadings: c.failed.Load(),
		Unconfirmed:    c.unconfirmed.Load(),
		ConnectionLost: c.connLost.Load(),
		MaxLag:         time.Duration(c.maxLag.Load()),
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.SimStart, s.SimEnd = c.simStart, c.simEnd
	switch {
	case c.started.IsZero():
	case !c.ended.IsZero():
		s.Elapsed = c.ended.Sub(c.started)
	default:
		s.Elapsed = clock.Now().Sub(c.started)
	}
	return s
}
