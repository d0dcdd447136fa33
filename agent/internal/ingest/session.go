package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/mqttwait"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// session is one connection to the broker, with its pipeline: paho's
// router goroutine runs handle for each message, which decodes and
// validates it and queues it (blocking while the in-flight budget is
// spent); the appender goroutine stores queued messages in batches and
// acknowledges them in order.
type session struct {
	in     *Ingest
	queue  chan *item
	budget *budget

	stopOnce, abortOnce sync.Once
	stop                chan struct{} // closed: take no more messages
	abort               chan struct{} // closed: drop what is queued, ack nothing more
	cause               error         // why the session stopped (set before stop closes)

	stored bool // the appender stored something (read after it ended)

	// held are the topics left unacknowledged for the rest of the session
	// because their plugin stayed unavailable (handler goroutine only).
	held map[string]bool
	// heldN counts the messages held per topic in this session (the
	// broker's backlog of the topic, which it delivers again each
	// session), bounded by Options.MaxHeldPerTopic; heldTotal counts
	// them over all the topics, bounded by Options.MaxHeld.
	heldN     map[string]int
	heldTotal int
}

// item is one received message on its way to the store.
type item struct {
	msg      mqtt.Message
	arrival  time.Time
	size     int
	readings []reading.Reading
	marks    []sensorMark
	node     int   // Sparkplug node whose seq this message moves, or -1
	nodeSeq  int16 // its seq
	gaps     uint64
	resets   uint64
	// futureUnsynced counts readings past MaxFutureSkew stored because the
	// clock was not synchronised; unsyncedAhead is how far the first was.
	futureUnsynced uint64
	unsyncedAhead  time.Duration
	// oldUnsynced counts readings past MaxAge stored because the clock
	// was not synchronised; unsyncedBehind is how far the first was.
	oldUnsynced    uint64
	unsyncedBehind time.Duration
	rejected       [numReasons]uint32
	first          []Rejection // the first rejection of each reason in the message
}

type sensorMark struct {
	idx int
	m   mark
}

// halt stops the session's intake (the first cause is kept) and, with
// abort, also its appender: what is queued is dropped unacknowledged.
func (s *session) halt(err error, abort bool) {
	if abort {
		s.abortOnce.Do(func() { close(s.abort) })
	}
	s.stopOnce.Do(func() {
		s.cause = err
		close(s.stop)
	})
}

// errLost is the cause of a session whose connection dropped.
var errLost = errors.New("connection to the broker lost")

// errHeld is the cause of a session ended to retry the topics it held
// for an unavailable codec plugin.
var errHeld = errors.New("a codec plugin was unavailable")

// session runs one connection until it ends or ctx is done. It reports
// whether anything was stored.
func (in *Ingest) session(ctx context.Context) (bool, error) {
	s := &session{in: in,
		queue:  make(chan *item, in.opts.MaxInFlight),
		budget: newBudget(in.opts.MaxInFlight, in.opts.MaxInFlightBytes),
		stop:   make(chan struct{}), abort: make(chan struct{})}

	// Messages that were received but not stored are delivered again:
	// forget what the handler saw of them.
	in.hmu.Lock()
	in.cmu.Lock()
	copy(in.pending, in.committed)
	copy(in.pendingNodes, in.committedNodes)
	in.cmu.Unlock()
	in.hmu.Unlock()
	defer func() {
		in.hmu.Lock()
		in.lastHeld = s.held
		in.hmu.Unlock()
	}()

	client := mqtt.NewClient(in.mqttOptions(s))
	// The connection attempt and the subscription are bounded by
	// ConnectTimeout each: the heartbeat is kept meanwhile, for no longer
	// than those bounds, then the appender takes it over.
	endCover := in.opts.Heartbeat.Cover(2*in.opts.ConnectTimeout + time.Second)
	defer func() { endCover() }()
	if err := mqttwait.Token(ctx, client.Connect(), in.opts.ConnectTimeout+time.Second); err != nil {
		if ctx.Err() == nil {
			in.stats.connectFailures.Add(1)
		}
		client.Disconnect(0)
		return false, fmt.Errorf("connect to %s: %s", redact(in.opts.Broker), redactErr(err, in.opts.Broker))
	}
	in.stats.sessions.Add(1)

	appendCtx, cancelAppend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelAppend()
	var wg sync.WaitGroup
	wg.Go(func() { s.appender(appendCtx) })

	tok := client.SubscribeMultiple(in.filters, nil)
	err := mqttwait.Token(ctx, tok, in.opts.ConnectTimeout)
	if err == nil {
		err = subscribeResult(tok, in.filters)
	}
	if err != nil {
		if ctx.Err() == nil {
			s.halt(fmt.Errorf("subscribe: %w", err), true)
		}
	} else {
		in.stats.connected.Store(true)
		in.log.Info("ingest connected", "broker", redact(in.opts.Broker), "client_id", in.opts.ClientID, "subscriptions", len(in.filters))
	}
	endCover()
	endCover = func() {}

	select {
	case <-ctx.Done():
		s.halt(ctx.Err(), false) // drain: store and ack what was received
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		t := time.NewTimer(in.opts.DrainTimeout)
		select {
		case <-done:
		case <-t.C:
			in.log.Warn("ingest drain timed out; the rest is left for redelivery", "timeout", in.opts.DrainTimeout,
				"in_flight", in.stats.inFlight.Load())
			s.halt(nil, true)
			cancelAppend()
		}
		t.Stop()
	case <-s.stop:
	}
	wg.Wait()
	in.stats.connected.Store(false)
	client.Disconnect(250)
	s.budget.releaseAll(&in.stats)
	if errors.Is(s.cause, context.Canceled) || errors.Is(s.cause, context.DeadlineExceeded) {
		return s.stored, nil
	}
	return s.stored, s.cause
}

// mqttOptions builds paho's options for session s.
func (in *Ingest) mqttOptions(s *session) *mqtt.ClientOptions {
	o := in.opts
	mo := mqtt.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetCleanSession(false). // the broker keeps what is not acknowledged
		SetProtocolVersion(4).
		SetAutoAckDisabled(true). // acknowledged after Append, by the appender
		SetOrderMatters(true).    // one handler call at a time, in order: blocking it pushes back
		SetAutoReconnect(false).  // Run reconnects, with a fresh session
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetConnectTimeout(o.ConnectTimeout).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(o.PingTimeout).
		SetWriteTimeout(o.ConnectTimeout).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { in.handle(s, m) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			in.stats.connLost.Add(1)
			s.halt(fmt.Errorf("%w: %v", errLost, err), true)
		})
	if o.Username != "" {
		mo.SetUsername(o.Username)
		mo.SetPassword(o.Password)
	}
	if o.TLS != nil {
		mo.SetTLSConfig(o.TLS)
	}
	return mo
}

// subscribeResult checks the broker granted every subscription.
func subscribeResult(tok mqtt.Token, filters map[string]byte) error {
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	for topic, qos := range st.Result() {
		if qos == 0x80 {
			return fmt.Errorf("the broker refused the subscription to %q", topic)
		}
		if qos < filters[topic] {
			return fmt.Errorf("the broker granted QoS %d for %q, not %d", qos, topic, filters[topic])
		}
	}
	return nil
}

// appender stores queued items in batches and acknowledges them, in the
// order they were received, once Append returned nil.
func (s *session) appender(ctx context.Context) {
	in := s.in
	var batch []*item
	var rs []reading.Reading
	beat := in.opts.Heartbeat
	tick := time.NewTicker(liveness.Interval)
	defer tick.Stop()
	for {
		beat.Beat()
		var first *item
		select {
		case <-tick.C:
			continue // idle: the beat above
		case first = <-s.queue:
		case <-s.abort:
			return
		case <-s.stop:
			// Drain: take what is queued, then end.
			select {
			case first = <-s.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		rs = append(rs[:0], first.readings...)
	fill:
		for len(rs) < in.opts.MaxBatch {
			select {
			case it := <-s.queue:
				batch = append(batch, it)
				rs = append(rs, it.readings...)
			default:
				break fill
			}
		}
		select {
		case <-s.abort:
			return
		default:
		}
		if len(rs) > 0 {
			if err := in.store.Append(ctx, rs); err != nil {
				in.stats.storeErrors.Add(1)
				in.log.Error("ingest store append failed; messages left for redelivery",
					"err", err, "readings", len(rs), "messages", len(batch))
				s.halt(fmt.Errorf("store append: %w", err), true)
				return
			}
			s.stored = true
			in.stats.appends.Add(1)
		}
		clear(rs)
		in.commit(s, batch)
		clear(batch)
	}
}

// commit acknowledges the items of a stored batch and moves the committed
// state forward.
func (in *Ingest) commit(s *session, batch []*item) {
	now := in.opts.Now()
	var n uint64
	in.cmu.Lock()
	for _, it := range batch {
		for _, sm := range it.marks {
			in.committed[sm.idx] = sm.m
		}
		if it.node >= 0 {
			in.committedNodes[it.node] = it.nodeSeq
		}
	}
	in.cmu.Unlock()
	for _, it := range batch {
		it.msg.Ack()
		in.stats.ackLatency.observe(now.Sub(it.arrival))
		in.stats.acked.Add(1)
		n += uint64(len(it.readings))
		in.stats.gaps.Add(it.gaps)
		in.stats.seqResets.Add(it.resets)
		if it.futureUnsynced > 0 {
			in.stats.futureUnsynced.Add(it.futureUnsynced)
			if ok, held := in.lim.allow(reasonFutureUnsynced, now); ok {
				in.log.Warn("ingest stored readings ahead of the agent's clock, which is not synchronised",
					"topic", it.msg.Topic(), "ahead", it.unsyncedAhead.Round(time.Millisecond), "in_message", it.futureUnsynced,
					"limit", in.opts.MaxFutureSkew, "not_logged_since_last", held)
			}
		}
		if it.oldUnsynced > 0 {
			in.stats.oldUnsynced.Add(it.oldUnsynced)
			if ok, held := in.lim.allow(reasonOldUnsynced, now); ok {
				in.log.Warn("ingest stored readings older than the age limit by the agent's clock, which is not synchronised",
					"topic", it.msg.Topic(), "behind", it.unsyncedBehind.Round(time.Millisecond), "in_message", it.oldUnsynced,
					"limit", in.opts.MaxAge, "not_logged_since_last", held)
			}
		}
		for r, c := range it.rejected {
			if c > 0 {
				in.stats.rejected[r].Add(uint64(c))
			}
		}
		for _, rej := range it.first {
			in.reject(rej, uint64(it.rejected[reasonIndex(rej.Reason)]))
		}
		s.budget.release(it.size, &in.stats)
	}
	in.stats.readings.Add(n)
	in.stats.rate.add(now, n)
}

// reject logs (rate-limited) and keeps one rejection that stands for
// count of its reason in one message.
func (in *Ingest) reject(r Rejection, count uint64) {
	in.recent.add(r)
	ok, held := in.lim.allow(r.Reason, r.Time)
	if !ok {
		return
	}
	in.log.Warn("ingest rejected", "reason", string(r.Reason), "topic", r.Topic, "sensor", r.Sensor,
		"detail", r.Detail, "in_message", count, "not_logged_since_last", held)
}

// budget bounds the messages and bytes in flight. Only the handler
// acquires (one goroutine); the appender releases.
type budget struct {
	mu         sync.Mutex
	n, bytes   int
	maxN, maxB int
	wake       chan struct{}
	closed     bool // after releaseAll: acquire fails
}

func newBudget(maxN, maxB int) *budget {
	return &budget{maxN: maxN, maxB: maxB, wake: make(chan struct{})}
}

// acquire takes room for one message of size bytes, waiting while the
// budget is spent; it returns false if stop closes first. A message larger
// than the byte budget is let through when nothing else is in flight.
func (b *budget) acquire(size int, stop <-chan struct{}, c *counters) bool {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return false
		}
		if b.n == 0 || (b.n < b.maxN && b.bytes+size <= b.maxB) {
			b.n++
			b.bytes += size
			b.mu.Unlock()
			c.inFlight.Add(1)
			c.inFlightBytes.Add(int64(size))
			return true
		}
		w := b.wake
		b.mu.Unlock()
		select {
		case <-w:
		case <-stop:
			return false
		}
	}
}

func (b *budget) release(size int, c *counters) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.n--
	b.bytes -= size
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
	c.inFlight.Add(-1)
	c.inFlightBytes.Add(-int64(size))
}

// releaseAll returns what a finished session still holds.
func (b *budget) releaseAll(c *counters) {
	b.mu.Lock()
	c.inFlight.Add(-int64(b.n))
	c.inFlightBytes.Add(-int64(b.bytes))
	b.n, b.bytes = 0, 0
	b.closed = true
	b.mu.Unlock()
}
