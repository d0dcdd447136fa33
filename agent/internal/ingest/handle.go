package ingest

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"time"
	"unsafe"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// maxFailureKeys bounds the payload hashes remembered for
// MaxDecodeFailures; the map is cleared when it is full.
const maxFailureKeys = 4096

// readingSize is the memory of one decoded reading, for the in-flight
// budget. Its sensor id's bytes are the firmware config's (interned by the
// built-in codecs), except in a plugin's reply: not counted.
const readingSize = int(unsafe.Sizeof(reading.Reading{}))

// minTime is the oldest time a store can hold: time.UnixNano's range.
var minTime = time.Unix(0, math.MinInt64)

// decodeRetryWait is how long the handler waits before calling a decoder
// again after it failed.
const decodeRetryWait = 50 * time.Millisecond

// handle processes one message: paho calls it from the connection's router
// goroutine, one message at a time, in the order received. It returns
// without acknowledging when the session stops; otherwise the message is
// queued for the appender, which acknowledges it after its readings are
// stored (or at once, in order, if it holds none).
func (in *Ingest) handle(s *session, m mqtt.Message) {
	select {
	case <-s.stop:
		return
	default:
	}
	in.hmu.Lock()
	defer in.hmu.Unlock()
	arrival := in.opts.Now()
	payload := m.Payload()
	in.stats.messages.Add(1)
	in.stats.bytes.Add(uint64(len(payload)))
	if m.Duplicate() {
		in.stats.redelivered.Add(1)
	}
	it := &item{msg: m, arrival: arrival, size: len(payload), node: -1}
	topic := m.Topic()
	rt := in.routes[topic]
	b, isBirth := in.births[topic]
	switch {
	case rt != nil && s.held[topic]:
		// An earlier message of the topic waits for its plugin: this one
		// must not overtake it. Both come again in the next session.
		if detail := in.heldFull(s, topic); detail != "" {
			// The backlog is at its bound: acknowledged, lost to the
			// broken plugins' topics alone, rather than left to fill
			// the broker's window for every topic.
			it.rejectMsg(ReasonPluginUnavailable, topic, arrival, detail)
			break
		}
		s.heldN[topic]++
		s.heldTotal++
		in.stats.pluginHeld.Add(1)
		return
	case rt != nil:
		if !in.decode(s, rt, it, payload) {
			return // the session stopped, or the topic is held: not acknowledged
		}
	case isBirth:
		in.birth(b, it, topic, payload)
	default:
		it.rejectMsg(ReasonUnknownTopic, topic, arrival, "no active sensor of the firmware config is bound to this topic")
	}
	// The item holds the payload (in msg) and its decoded readings.
	it.size += cap(it.readings) * readingSize
	if !s.budget.acquire(it.size, s.stop, &in.stats) {
		return
	}
	select {
	case s.queue <- it:
	case <-s.stop:
	}
}

// decode decodes and validates a data message into it. It returns false,
// leaving the message unacknowledged, if the session stopped while the
// decoder kept failing, or if the plugin stayed unavailable for
// MaxPluginWait (the topic is then held: see hold).
func (in *Ingest) decode(s *session, rt *route, it *item, payload []byte) bool {
	b := codec.Binding{Topic: rt.topic, Sensor: rt.def, Now: it.arrival, Names: in.names}
	var nodeSeq uint8
	var hasSeq bool
	if rt.node >= 0 {
		b.Aliases = in.nodes[rt.node].aliases
		nodeSeq, hasSeq = sparkplugSeq(payload)
	}
	var err error
	waiting := false
	var since time.Time
	for attempt := 0; ; {
		in.scratch, err = rt.dec.Decode(b, payload, in.scratch[:0])
		if err == nil || !errors.Is(err, plugin.ErrFailed) {
			break
		}
		switch {
		case errors.Is(err, plugin.ErrUnavailable) || errors.Is(err, plugin.ErrRestarting):
			// The plugin was not called with this payload (it cannot
			// start, its restart is pending): not the payload's fault.
			// The message waits, unacknowledged, however long it takes.
			if in.lastHeld[rt.topic] && errors.Is(err, plugin.ErrRestarting) {
				// Held in the last session, and still backing off
				// after failed starts: no wait that stalls every topic.
				return in.hold(s, it, rt.topic, err)
			}
			if !waiting {
				waiting, since = true, time.Now()
				in.stats.pluginWaits.Add(1)
				in.log.Warn("ingest decoder unavailable; message not acknowledged, waiting for the plugin", "topic", rt.topic, "err", err)
			} else if time.Since(since) >= in.opts.MaxPluginWait {
				return in.hold(s, it, rt.topic, err)
			}
		default:
			// The plugin crashed, hung or overflowed on this payload.
			attempt++
			in.stats.decodeFailures.Add(1)
			key := payloadKey(rt.topic, payload)
			if len(in.failures) >= maxFailureKeys {
				clear(in.failures)
			}
			in.failures[key]++
			if in.failures[key] >= in.opts.MaxDecodeFailures {
				delete(in.failures, key)
				it.rejectMsg(ReasonPluginFailed, rt.topic, it.arrival,
					fmt.Sprintf("gave up after %d decoder failures on this payload: %v", in.opts.MaxDecodeFailures, err))
				return true
			}
			in.log.Warn("ingest decoder failed; message not acknowledged, retrying", "topic", rt.topic, "err", err, "attempt", attempt)
		}
		t := time.NewTimer(decodeRetryWait)
		select {
		case <-s.stop:
			t.Stop()
			return false
		case <-t.C:
		}
	}
	if len(in.failures) > 0 {
		// The decoder answered: earlier failures on these bytes were not
		// the payload's (a later message with the same bytes starts from
		// zero).
		delete(in.failures, payloadKey(rt.topic, payload))
	}
	if err != nil {
		it.rejectMsg(ReasonMalformed, rt.topic, it.arrival, err.Error())
		return true
	}
	if rt.node >= 0 && hasSeq {
		in.nodeSeq(it, rt.node, nodeSeq)
	}
	in.validate(rt, it)
	return true
}

// hold holds topic for the rest of session s: its messages are left
// unacknowledged, so that one unavailable plugin does not stall every
// topic behind the serial handler. The first hold ends the session
// HeldRetry later (after a drain), for the broker to deliver the held
// messages again, in order. The timer is not stopped if the session ends
// sooner: halting an ended session does nothing. It returns false, it
// held: the message stays unacknowledged. If Options.MaxHeld messages are
// already held in the session, the topic is held all the same (its later
// messages do not wait for the plugin again) but it rejects it as
// ReasonPluginUnavailable and returns true: it is to be acknowledged.
func (in *Ingest) hold(s *session, it *item, topic string, err error) bool {
	if s.held == nil {
		s.held, s.heldN = map[string]bool{}, map[string]int{}
		time.AfterFunc(in.opts.HeldRetry, func() {
			s.halt(fmt.Errorf("%w: retrying its held topics", errHeld), false)
		})
	}
	s.held[topic] = true
	in.log.Warn("ingest codec plugin unavailable; topic held unacknowledged for this session, other topics go on",
		"topic", topic, "waited", in.opts.MaxPluginWait, "retry_in", in.opts.HeldRetry, "err", err)
	if detail := in.heldFull(s, topic); detail != "" {
		it.rejectMsg(ReasonPluginUnavailable, topic, it.arrival, detail)
		return true
	}
	s.heldN[topic]++
	s.heldTotal++
	in.stats.pluginHeld.Add(1)
	return false
}

// heldFull says why one more message of held topic cannot be held in
// session s (the broker's backlog for the agent is at a bound:
// Options.MaxHeldPerTopic of the topic, or Options.MaxHeld of all the
// held topics), or "" if it can.
func (in *Ingest) heldFull(s *session, topic string) string {
	switch {
	case s.heldN[topic] >= in.opts.MaxHeldPerTopic:
		return fmt.Sprintf("its codec plugin is unavailable and %d messages of the topic are already held unacknowledged",
			in.opts.MaxHeldPerTopic)
	case s.heldTotal >= in.opts.MaxHeld:
		return fmt.Sprintf("its codec plugin is unavailable and %d messages of unavailable plugins' topics are already held unacknowledged",
			in.opts.MaxHeld)
	}
	return ""
}

// payloadKey hashes a topic and payload.
func payloadKey(topic string, payload []byte) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(topic))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write(payload)
	return h.Sum64()
}

// birth reads the aliases of a Sparkplug B birth certificate. An NBIRTH
// starts the node's alias table afresh; a DBIRTH adds to it. Births carry
// no readings the ingest stores.
func (in *Ingest) birth(b birth, it *item, topic string, payload []byte) {
	n := in.nodes[b.node]
	aliases := make(map[uint64]codec.SparkplugMetric)
	if b.device {
		for k, v := range n.aliases {
			aliases[k] = v
		}
	}
	if err := codec.ParseSparkplugBirth(payload, aliases); err != nil {
		it.rejectMsg(ReasonMalformed, topic, it.arrival, err.Error())
		return
	}
	n.aliases = aliases
	if seq, ok := sparkplugSeq(payload); ok {
		if !b.device {
			in.pendingNodes[b.node] = -1 // a new node session: seq starts again
		}
		in.nodeSeq(it, b.node, seq)
	}
}

// nodeSeq checks a Sparkplug B message seq against the node's last one
// (mod 256) and counts the messages missing in between.
func (in *Ingest) nodeSeq(it *item, node int, seq uint8) {
	last := in.pendingNodes[node]
	if last >= 0 {
		d := (int(seq) - int(last) - 1) & 0xff
		if d >= 128 {
			return // a redelivery or an old message: seq stays
		}
		it.gaps += uint64(d)
	}
	in.pendingNodes[node] = int16(seq)
	it.node, it.nodeSeq = node, int16(seq)
}

// validate applies scale and offset to the decoded readings in
// in.scratch, checks them and moves those that pass into it.
func (in *Ingest) validate(rt *route, it *item) {
	in.msgNo++
	in.touched = in.touched[:0]
	now := it.arrival
	sparkplug := rt.node >= 0 || rt.codec == codec.NameSparkplugB
	synced := 0 // ClockSynced, asked once per message when needed: 1 yes, -1 no
	for i := range in.scratch {
		r := &in.scratch[i]
		idx, ok := rt.sensors[r.Sensor]
		if !ok {
			if it.note(ReasonUnknownSensor) {
				detail := "sensor is not in the firmware config"
				if j, known := in.byID[r.Sensor]; known {
					detail = fmt.Sprintf("sensor is bound to topic %q, not this one", in.sensors[j].topic)
				}
				it.keep(ReasonUnknownSensor, rt.topic, r.Sensor, now, detail)
			}
			continue
		}
		si := &in.sensors[idx]
		if si.inactive {
			if it.note(ReasonInactiveSensor) {
				it.keep(ReasonInactiveSensor, rt.topic, r.Sensor, now, "sensor is marked inactive in the firmware config")
			}
			continue
		}
		v := r.Value*si.scale + si.offset
		if math.IsNaN(v) || math.IsInf(v, 0) {
			if it.note(ReasonNotFinite) {
				it.keep(ReasonNotFinite, rt.topic, r.Sensor, now, fmt.Sprintf("value %v (raw %v)", v, r.Value))
			}
			continue
		}
		// A bad reading (quality 2, or an unknown code: codec.CheckReading)
		// is stored as is, not range-checked.
		if r.Quality <= reading.Uncertain && (v < si.lo || v > si.hi) {
			if it.note(ReasonOutOfRange) {
				it.keep(ReasonOutOfRange, rt.topic, r.Sensor, now, fmt.Sprintf(
					"value %g is outside the range [%g, %g] and its tolerance [%g, %g]", v, si.min, si.max, si.lo, si.hi))
			}
			continue
		}
		ahead := false
		if d := r.Time.Sub(now); d > in.opts.MaxFutureSkew {
			if synced == 0 {
				synced = 1
				if !in.opts.ClockSynced() {
					synced = -1
				}
			}
			if synced > 0 {
				if it.note(ReasonFuture) {
					it.keep(ReasonFuture, rt.topic, r.Sensor, now, fmt.Sprintf(
						"time %s is %s ahead of the agent's clock (limit %s)", r.Time.Format(time.RFC3339Nano), d.Round(time.Millisecond), in.opts.MaxFutureSkew))
				}
				continue
			}
			if d > in.opts.MaxUnsyncedSkew {
				if it.note(ReasonFuture) {
					it.keep(ReasonFuture, rt.topic, r.Sensor, now, fmt.Sprintf(
						"time %s is %s ahead of the agent's clock, which is not synchronised (limit %s)", r.Time.Format(time.RFC3339Nano), d.Round(time.Millisecond), in.opts.MaxUnsyncedSkew))
				}
				continue
			}
			ahead = true
			// The agent's clock is not synchronised: it, not the
			// reading, is the likelier to be wrong (booted before NTP).
			// Stored and counted rather than dropped and acknowledged.
			if it.futureUnsynced == 0 {
				it.unsyncedAhead = d
			}
			it.futureUnsynced++
		}
		if d := now.Sub(r.Time); in.opts.MaxAge > 0 && d > in.opts.MaxAge && !r.Time.Before(minTime) {
			if synced == 0 {
				synced = 1
				if !in.opts.ClockSynced() {
					synced = -1
				}
			}
			if synced > 0 {
				if it.note(ReasonTooOld) {
					it.keep(ReasonTooOld, rt.topic, r.Sensor, now, fmt.Sprintf(
						"time %s is older than %s", r.Time.Format(time.RFC3339Nano), in.opts.MaxAge))
				}
				continue
			}
			// The agent's clock is not synchronised: it, not the
			// reading, is the likelier to be wrong (ahead: a bad RTC
			// before NTP steps it back). Stored and counted rather than
			// dropped and acknowledged.
			if it.oldUnsynced == 0 {
				it.unsyncedBehind = d
			}
			it.oldUnsynced++
		}
		if r.Time.Before(minTime) {
			if it.note(ReasonTooOld) {
				it.keep(ReasonTooOld, rt.topic, r.Sensor, now, fmt.Sprintf(
					"time %s is before 1678: no store holds it", r.Time.Format(time.RFC3339Nano)))
			}
			continue
		}
		if !in.dedup(idx, r, sparkplug, ahead, it) {
			if it.note(ReasonDuplicate) {
				it.keep(ReasonDuplicate, rt.topic, r.Sensor, now, fmt.Sprintf(
					"seq %d at %s is not after the last stored reading of the sensor", r.Seq, r.Time.Format(time.RFC3339Nano)))
			}
			continue
		}
		r.Value = v
		it.readings = append(it.readings, *r)
	}
	clear(in.scratch) // the readings hold no references, but keep it tidy
	for _, idx := range in.touched {
		it.marks = append(it.marks, sensorMark{idx: idx, m: in.pending[idx]})
	}
}

// dedup checks r against the sensor's pending state and moves the state
// on; it returns false for a duplicate. See ReasonDuplicate.
//
// A reading whose time is its message's arrival time (its payload had
// none, and the codec stamped it) is compared by time only
// with the readings of its own message; with a seq not after the mark, it
// is a duplicate only if the broker redelivers its message (MQTT DUP
// flag: it was delivered before) and its seq lies in what can be stored
// but unacknowledged: in the publisher's current count (not below from)
// and less than Options.MaxInFlight before the mark (the agent never
// holds more unacknowledged). Else it is a restarted publisher, also when
// redelivered: DUP alone does not say the agent stored it (the session
// may have ended before, e.g. with its topic held for a plugin), and a
// duplicate stored is better than a reading lost. Its time says nothing about a
// redelivery, which arrives at a new time anyway; and after the agent's
// clock stepped back (or the mark came from a publisher's clock ahead of
// the agent's), every new such reading would look older than the mark and
// be dropped as a duplicate, even across restarts (the mark is persisted).
//
// A reading ahead of an unsynchronised clock by more than MaxFutureSkew
// (ahead) is compared with such readings of its own message, and moves
// neither the mark nor the seq: one reading far ahead would otherwise
// have every later reading without seq rejected until its time. It moves
// the sensor's ahead marks instead, the times stored ahead since they
// last went back (aheadLo to ahead), against which only a message the
// broker redelivers (MQTT DUP flag) is checked: a redelivery of stored
// readings ahead is a duplicate, and new messages are not rejected by one
// reading far ahead. Nor are redeliveries of messages never stored: a
// reading stored before a far-ahead one (going back) starts the range
// again, so that the far-ahead time does not cover the later ones. A
// redelivery from before the range is stored again: a duplicate stored
// is better than a reading lost.
func (in *Ingest) dedup(idx int, r *reading.Reading, sparkplug, ahead bool, it *item) bool {
	t := r.Time.UnixNano()
	m := &in.pending[idx]
	if ahead {
		if in.aheadNo[idx] == in.msgNo && t <= in.aheadT[idx] {
			return false
		}
		if m.ahead != 0 && t <= m.ahead && t >= m.aheadLo && it.msg.Duplicate() {
			return false
		}
		in.aheadNo[idx], in.aheadT[idx] = in.msgNo, t
		if m.ahead == 0 || t < m.ahead {
			m.aheadLo = t // back in time: the range starts again
		}
		m.ahead = t
		in.touch(idx)
		return true
	}
	byTime := !r.Time.Equal(it.arrival) || in.stamp[idx] == in.msgNo
	useSeq := !sparkplug && r.Seq != 0
	if m.set {
		switch {
		case !useSeq || m.seq == 0:
			if byTime && t <= m.t {
				return false
			}
		case r.Seq <= m.seq:
			if byTime && t <= m.t {
				return false
			}
			if !byTime && it.msg.Duplicate() && r.Seq >= m.from && m.seq-r.Seq < uint64(in.opts.MaxInFlight) {
				// Arrival-stamped, redelivered by the broker (MQTT DUP):
				// its seq, not after the last stored but within what
				// may be stored unacknowledged, is the only evidence.
				return false
			}
			it.resets++ // the publisher started counting again
			m.from = r.Seq
		case r.Seq > m.seq+1:
			it.gaps += r.Seq - m.seq - 1
		}
	}
	if useSeq && (!m.set || m.seq == 0) {
		m.from = r.Seq
	}
	m.set = true
	m.t = max(m.t, t)
	if useSeq {
		m.seq = r.Seq
	}
	in.stamp[idx] = in.msgNo
	in.touch(idx)
	return true
}

// touch notes that the message moved sensor idx's mark (in.touched), once.
func (in *Ingest) touch(idx int) {
	if in.touchNo[idx] != in.msgNo {
		in.touchNo[idx] = in.msgNo
		in.touched = append(in.touched, idx)
	}
}

// rejectMsg records the rejection of the whole message.
func (it *item) rejectMsg(r Reason, topic string, now time.Time, detail string) {
	if it.note(r) {
		it.keep(r, topic, "", now, detail)
	}
}

// note counts one rejection for r and reports whether it is the first of
// its reason in the message: only that one is kept, with its detail (so
// that callers format the detail only then).
func (it *item) note(r Reason) bool {
	i := reasonIndex(r)
	it.rejected[i]++
	return it.rejected[i] == 1
}

// keep keeps the first rejection of a reason.
func (it *item) keep(r Reason, topic, sensor string, now time.Time, detail string) {
	it.first = append(it.first, Rejection{Time: now, Reason: r, Topic: topic, Sensor: sensor, Detail: detail})
}
