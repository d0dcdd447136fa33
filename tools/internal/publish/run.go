package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Run connects if needed, then publishes the readings src streams from
// simulated time start until the stream ends, ctx is done or an error stops
// it, and returns the run's Stats with the first error:
//
//   - nil when the stream ended and everything was published (failed
//     publishes are counted in Stats.Errors, not returned);
//   - ctx.Err() when ctx was cancelled (after the drain, see Options.DrainTimeout);
//   - an error wrapping ErrConnect, ErrUnknownSensor or ErrEncode;
//   - the source's error, wrapped.
//
// start is also the origin of pacing (zero: the time of the first reading).
// Run logs a summary when it returns. Only one Run may go at a time.
func (p *Publisher) Run(ctx context.Context, src Source, start time.Time) (Stats, error) {
	if src == nil {
		return Stats{}, fmt.Errorf("%w: nil source", ErrOptions)
	}
	if !p.running.CompareAndSwap(false, true) {
		return Stats{}, ErrRunning
	}
	defer p.running.Store(false)
	p.stats.reset(p.clock.Now())
	if err := p.Connect(ctx); err != nil {
		p.stats.end(p.clock.Now())
		return p.Stats(), err
	}
	p.mu.Lock()
	c, store := p.conn, p.store
	p.mu.Unlock()
	if c == nil {
		p.stats.end(p.clock.Now())
		return p.Stats(), ErrClosed
	}

	n := p.opts.MaxInFlight
	r := &runner{
		p:     p,
		conn:  c,
		store: store,
		slots: make(chan struct{}, n),
		queue: make(chan inflight, n),
		free:  make(chan []byte, n),
		abort: make(chan struct{}),
		done:  make(chan struct{}),
		pace:  pacer{clock: p.clock, speed: p.opts.Speed, origin: start, wall: p.clock.Now(), stats: &p.stats},
		fails: limiter{every: 5 * time.Second},
	}
	for _, rt := range p.routes {
		rt.buf = rt.buf[:0]
	}
	p.log.Info("publishing", "rig", p.rigType, "speed", p.opts.Speed, "flush_interval", p.opts.FlushInterval,
		"max_in_flight", n, "max_readings_per_message", p.opts.MaxReadingsPerMessage)
	go r.confirm()

	streamErr := src.Stream(ctx, start, func(b []reading.Reading) error { return r.emit(ctx, b) })

	// Drain: publish what was collected, then wait for acknowledgements,
	// both bounded by DrainTimeout.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.DrainTimeout)
	defer cancel()
	for _, rt := range p.routes {
		if err := r.flush(dctx, rt); err != nil {
			if errors.Is(err, ErrEncode) && r.fatal == nil {
				r.fatal = err
			}
			if dctx.Err() != nil {
				break
			}
		}
	}
	for _, rt := range p.routes {
		p.stats.failed.Add(uint64(len(rt.buf))) // collected but never published
		rt.buf = rt.buf[:0]
	}
	close(r.queue)
	select {
	case <-r.done:
	case <-dctx.Done():
		close(r.abort)
		<-r.done
	}
	p.stats.end(p.clock.Now())
	st := p.Stats()

	var err error
	switch {
	case r.fatal != nil:
		err = r.fatal
	case ctx.Err() != nil:
		err = ctx.Err()
	case streamErr != nil:
		err = fmt.Errorf("publish: source: %w", streamErr)
	}
	level := slog.LevelInfo
	if err != nil && ctx.Err() == nil || st.Errors > 0 || st.Unconfirmed > 0 {
		level = slog.LevelWarn
	}
	p.log.Log(context.WithoutCancel(ctx), level, "publish finished", "stats", st, "err", err)
	return st, err
}

// errTooBig is a payload over codec.MaxPayload (split, or, for a single
// reading, an ErrEncode).
var errTooBig = fmt.Errorf("payload exceeds the %d-byte limit of subscribers (codec.MaxPayload)", codec.MaxPayload)

// inflight is a published message waiting for its acknowledgement.
type inflight struct {
	tok      mqtt.Token
	ack      *ack // the store's view, for QoS 1 and 2 on paho (else nil)
	readings int
	payload  []byte
	topic    string
}

// runner is the state of one Run. emit and flush run on the source's
// goroutine; confirm on its own.
type runner struct {
	p     *Publisher
	conn  conn
	store *ackStore     // nil: trust the tokens
	slots chan struct{} // one token per message in flight: the window
	queue chan inflight // messages in flight, oldest first (cap = window)
	free  chan []byte   // payload buffers of acknowledged messages
	abort chan struct{} // closed when the drain timeout ran out
	done  chan struct{} // closed when confirm returned
	pace  pacer
	fatal error // first error that stops the run (source goroutine only)
	fails limiter
}

// emit handles one source batch: pace, route, flush.
func (r *runner) emit(ctx context.Context, batch []reading.Reading) error {
	if r.fatal != nil {
		return r.fatal
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batch) == 0 {
		return nil
	}
	first, last := batch[0].Time, batch[len(batch)-1].Time
	if err := r.pace.wait(ctx, last); err != nil {
		return err
	}
	r.p.stats.sim(first, last)
	for i := range batch {
		rd := batch[i]
		st := r.p.sensors[rd.Sensor]
		if st == nil {
			r.fatal = fmt.Errorf("%w: sensor %q (rig %q): the source and the firmware config disagree",
				ErrUnknownSensor, rd.Sensor, r.p.rigType)
			return r.fatal
		}
		if rd.Seq == 0 {
			st.seq++
			rd.Seq = st.seq
		} else {
			st.seq = rd.Seq
		}
		rt := st.route
		if len(rt.buf) == 0 {
			rt.first = rd.Time
		}
		rt.buf = append(rt.buf, rd)
		if len(rt.buf) >= rt.max {
			if err := r.flush(ctx, rt); err != nil {
				return err
			}
		}
	}
	fi := r.p.opts.FlushInterval
	for _, rt := range r.p.routes {
		if len(rt.buf) > 0 && (fi == 0 || last.Sub(rt.first) >= fi) {
			if err := r.flush(ctx, rt); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush publishes the readings collected for rt, in messages of at most
// rt.max readings. On error the unpublished readings stay in rt.buf.
func (r *runner) flush(ctx context.Context, rt *route) error {
	for len(rt.buf) > 0 {
		n := min(len(rt.buf), rt.max)
		if err := r.publish(ctx, rt, rt.buf[:n]); err != nil {
			if errors.Is(err, errTooBig) && n > 1 {
				// Subscribers reject payloads over codec.MaxPayload:
				// send fewer readings per message on this topic.
				rt.max = n / 2
				r.p.log.Info("payload over the size limit, lowering readings per message",
					"topic", rt.topic, "readings_per_message", rt.max, "limit_bytes", codec.MaxPayload)
				continue
			}
			return err
		}
		rest := copy(rt.buf, rt.buf[n:])
		clear(rt.buf[rest:])
		rt.buf = rt.buf[:rest]
		if rest > 0 {
			rt.first = rt.buf[0].Time
		}
	}
	return nil
}

// publish sends one message, waiting for a slot in the window first.
func (r *runner) publish(ctx context.Context, rt *route, rs []reading.Reading) error {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	var buf []byte
	select {
	case buf = <-r.free:
	default:
	}
	if rt.spSeq != nil {
		// Sparkplug B numbers messages, not readings: 0..255 per edge node.
		for i := range rs {
			rs[i].Seq = *rt.spSeq
		}
	}
	payload, err := rt.codec.Encode(buf[:0], rs)
	if err == nil && len(payload) > codec.MaxPayload {
		err = fmt.Errorf("%w: %d readings make %d bytes", errTooBig, len(rs), len(payload))
		if len(rs) > 1 {
			<-r.slots
			return err
		}
	}
	if err != nil {
		<-r.slots
		err = fmt.Errorf("%w for topic %q: %w", ErrEncode, rt.topic, err)
		if r.fatal == nil {
			r.fatal = err
		}
		return err
	}
	if rt.spSeq != nil {
		*rt.spSeq = (*rt.spSeq + 1) % 256
	}
	tok := r.conn.Publish(rt.topic, rt.qos, false, payload)
	m := inflight{tok: tok, readings: len(rs), payload: payload, topic: rt.topic}
	if r.store != nil && rt.qos > 0 {
		if pt, ok := tok.(interface{ MessageID() uint16 }); ok && pt.MessageID() != 0 {
			m.ack = r.store.watch(pt.MessageID()) // stored: delivered once the broker acks, even after a reconnect
		}
	}
	r.queue <- m // cap = window: never blocks
	return nil
}

// confirm waits for the acknowledgements in order, counts them and frees
// their slots. After abort it stops waiting and counts the rest as
// unconfirmed.
func (r *runner) confirm() {
	defer close(r.done)
	st := &r.p.stats
	aborted := false
	wait := func(ch <-chan struct{}) bool {
		if !aborted {
			select {
			case <-ch:
				return true
			case <-r.abort:
				aborted = true
			}
		}
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	for m := range r.queue {
		var err error
		switch {
		case m.ack != nil:
			// The token may report a write error for a message that the
			// client resends after reconnecting: only the store knows.
			if !wait(m.ack.done) {
				st.unconfirmed.Add(1)
				st.failed.Add(uint64(m.readings))
				<-r.slots
				continue
			}
			if !m.ack.ok {
				err = errors.New("dropped from the MQTT session before the broker acknowledged it")
			}
		default:
			if !wait(m.tok.Done()) {
				st.unconfirmed.Add(1)
				st.failed.Add(uint64(m.readings))
				<-r.slots
				continue
			}
			err = m.tok.Error()
		}
		if err != nil {
			st.errors.Add(1)
			st.failed.Add(uint64(m.readings))
			if ok, suppressed := r.fails.allow(r.p.clock.Now()); ok {
				r.p.log.Warn("publish failed", "topic", m.topic, "readings", m.readings,
					"err", err, "suppressed", suppressed)
			}
		} else {
			st.messages.Add(1)
			st.readings.Add(uint64(m.readings))
			st.bytes.Add(uint64(len(m.payload)))
			r.recycle(m)
		}
		<-r.slots
	}
}

// recycle keeps the payload buffer of a delivered message for reuse, once
// paho is done with it: when the broker acknowledged it (so it is out of
// the store) and its token completed (so no write is pending). After a
// lost connection, when paho resends from its store, nothing is reused.
func (r *runner) recycle(m inflight) {
	if r.p.stats.connLost.Load() > 0 {
		return
	}
	select {
	case <-m.tok.Done():
	default:
		return // a write of it may still be queued: let the GC have it
	}
	select {
	case r.free <- m.payload[:0]:
	default:
	}
}

// pacer holds publishing to the simulated clock, scaled by speed.
type pacer struct {
	clock  Clock
	speed  float64
	origin time.Time // simulated time at wall
	wall   time.Time
	stats  *counters
}

// wait sleeps until the wall time at which simulated time t is due.
func (pc *pacer) wait(ctx context.Context, t time.Time) error {
	if pc.speed == 0 {
		return nil
	}
	if pc.origin.IsZero() {
		pc.origin = t
	}
	due := pc.wall.Add(time.Duration(float64(t.Sub(pc.origin)) / pc.speed))
	d := due.Sub(pc.clock.Now())
	if d > 0 {
		return pc.clock.Sleep(ctx, d)
	}
	pc.stats.lag(-d)
	return nil
}

// limiter lets one log line through per period and counts the rest.
type limiter struct {
	every      time.Duration
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many lines were suppressed
// since the last one.
func (l *limiter) allow(now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	return true, n
}
