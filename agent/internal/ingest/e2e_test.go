package ingest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The tests in this file run the ingest against real brokers: the embedded
// mochi-mqtt broker (agent/internal/ingest/broker) on a free loopback
// port, and the Mosquitto at $MQTT_URL (skipped when unset; `make test`
// sets it). Each publishes a stream through every codec from a separate
// client connection and checks what reached the store.

// brokerCase is a broker under test: its URL, and a function that
// removes the ingest's persistent session afterwards (shared brokers).
type brokerCase struct {
	name string
	url  func(t *testing.T) string
}

var brokers = []brokerCase{
	{"embedded", func(t *testing.T) string { return startBroker(t, broker.Options{}).URL() }},
	{"mosquitto", func(t *testing.T) string { return mosquitto(t) }},
}

// forEachBroker runs test as a subtest named after each broker of brokers,
// with that broker's URL.
func forEachBroker(t *testing.T, test func(t *testing.T, url string)) {
	t.Helper()
	for _, bc := range brokers {
		t.Run(bc.name, func(t *testing.T) { test(t, bc.url(t)) })
	}
}

// uniqueRig returns testRig with its topics under hydrognn-test/<name> and
// its Sparkplug group <name>, a name no other test or run uses, so that a
// test on a shared broker sees no other traffic.
func uniqueRig() *rig.Config {
	name := uniqueName()
	return testRig("hydrognn-test/"+name, name)
}

// ingestOptions returns options with a unique client id whose session is
// removed at cleanup.
func ingestOptions(t *testing.T, url string) Options {
	id := "ingest-test-" + randomHex(6)
	t.Cleanup(func() { cleanSession(t, url, id) })
	return Options{Broker: url, ClientID: id, ClockSynced: func() bool { return true }} // future_time, whatever the test machine's kernel says
}

// TestExactlyOnce: 6,000 readings in about 1,500 messages through every
// codec arrive in the store exactly once, scaled, with nothing rejected,
// no gap and every message acknowledged.
func TestExactlyOnce(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		cfg := uniqueRig()
		store := newStore()
		r := startIngest(t, cfg, store, ingestOptions(t, url))
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 750, 10)
		newPublisher(t, url).publish(t, st.Msgs, 64)
		got := store.waitFor(t, len(st.Want), 30*time.Second)
		checkExactlyOnce(t, st.Want, got)
		s := r.in.Stats()
		t.Logf("%d messages, %d readings; ack p50 %s p99 %s; %d appends", s.Messages, s.Readings, s.AckLatency.P50, s.AckLatency.P99, s.Appends)
		assert.EqualValues(t, len(st.Msgs), s.Messages)
		assert.EqualValues(t, len(st.Msgs), s.Acked)
		assert.EqualValues(t, len(st.Want), s.Readings)
		assert.Zero(t, s.RejectedTotal(), "rejected: %v", s.Rejected)
		assert.Zero(t, s.Gaps)
		assert.Zero(t, s.InFlight)
		assert.EqualValues(t, len(st.Msgs), s.AckLatency.Count)
		assert.Positive(t, s.ReadingsPerSecond+1) // defined
	})
}

// TestRedeliveryAfterAppendFailure: the store fails its first appends; the
// messages of the failed batches are not acknowledged, the ingest
// reconnects, the broker delivers them again, and in the end every reading
// is stored exactly once.
func TestRedeliveryAfterAppendFailure(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		cfg := uniqueRig()
		store := newStore()
		store.FailFirst = 3
		r := startIngest(t, cfg, store, ingestOptions(t, url))
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 200, 10)
		newPublisher(t, url).publish(t, st.Msgs, 16)
		got := store.waitFor(t, len(st.Want), 30*time.Second)
		checkExactlyOnce(t, st.Want, got)
		s := r.in.Stats()
		t.Logf("stats: sessions %d, messages %d (redelivered %d), acked %d, rejected %v",
			s.Sessions, s.Messages, s.Redelivered, s.Acked, s.Rejected)
		assert.EqualValues(t, 3, s.StoreErrors)
		assert.GreaterOrEqual(t, s.Sessions, uint64(4), "a new session after each failure")
		assert.Positive(t, s.Redelivered, "the broker delivered the failed messages again")
		assert.GreaterOrEqual(t, s.Messages, uint64(len(st.Msgs)))
		assert.Zero(t, s.Gaps)
		// Acknowledgements lost with a dropped session make the broker
		// deliver stored messages again: those are duplicates, counted.
		assert.Equal(t, s.Rejected[ReasonDuplicate], s.RejectedTotal(), "only duplicates rejected: %v", s.Rejected)
	})
}

// TestRestartResumesSession: an ingest stopped in the middle of a stream
// leaves the rest in its persistent session; the next ingest with the
// same client id gets it, and nothing is stored twice or lost.
func TestRestartResumesSession(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		cfg := uniqueRig()
		opts := ingestOptions(t, url)
		store := newStore()
		store.Delay = 2 * time.Millisecond
		r := startIngest(t, cfg, store, opts)
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 300, 5)
		pub := newPublisher(t, url)
		half := len(st.Msgs) / 2
		pub.publish(t, st.Msgs[:half], 32)
		r.stop(t) // graceful: what was received is stored and acknowledged
		first := len(store.readings())
		pub.publish(t, st.Msgs[half:], 32) // queued by the broker for the session

		store.Delay = 0
		startIngest(t, cfg, store, opts)
		got := store.waitFor(t, len(st.Want), 30*time.Second)
		checkExactlyOnce(t, st.Want, got)
		t.Logf("first ingest stored %d of %d readings", first, len(st.Want))
	})
}

// TestBackPressure: with a slow store and a small in-flight window, the
// ingest never holds more than the window, the broker drops nothing, and
// everything is stored.
func TestBackPressure(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		cfg := uniqueRig()
		store := newStore()
		store.Delay = 5 * time.Millisecond
		opts := ingestOptions(t, url)
		opts.MaxInFlight = 8
		opts.MaxBatch = 20
		var in atomic.Pointer[Ingest]
		var maxInFlight atomic.Int64
		store.OnAppend = func([]reading.Reading) {
			if in := in.Load(); in != nil {
				if n := int64(in.Stats().InFlight); n > maxInFlight.Load() {
					maxInFlight.Store(n) // one appender: no lost update
				}
			}
		}
		r := startIngest(t, cfg, store, opts)
		in.Store(r.in)
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 150, 2)
		newPublisher(t, url).publish(t, st.Msgs, 256)
		got := store.waitFor(t, len(st.Want), 60*time.Second)
		checkExactlyOnce(t, st.Want, got)
		s := r.in.Stats()
		assert.LessOrEqual(t, maxInFlight.Load(), int64(8))
		assert.Positive(t, maxInFlight.Load())
		assert.LessOrEqual(t, s.Appends, s.Acked)
		t.Logf("%d messages in %d appends, max in flight %d", s.Acked, s.Appends, maxInFlight.Load())
	})
}

// TestMalformedAndUnknown: garbage on every topic and readings that fail
// validation are rejected with counted reasons, good messages around them
// are stored, and the ingest keeps running.
func TestMalformedAndUnknown(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		name := uniqueName()
		prefix := "hydrognn-test/" + name
		cfg := testRig(prefix, name)
		store := newStore()
		r := startIngest(t, cfg, store, ingestOptions(t, url))
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 20, 5)
		var msgs []message
		bad := 0
		for i, m := range st.Msgs {
			msgs = append(msgs, m)
			if i%5 == 0 {
				msgs = append(msgs, message{Topic: m.Topic, Payload: []byte("\x00garbage{")})
				bad++
			}
		}
		now := time.Now().UTC().Format(time.RFC3339Nano)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
		msgs = append(msgs,
			message{prefix + "/virtual/CE", []byte(`{"v":1e9,"ts":"` + now + `"}`)},                       // out of range
			message{prefix + "/virtual/CE", []byte(`{"v":1,"ts":"` + future + `"}`)},                      // future
			message{prefix + "/slow", []byte(`{"readings":[{"sensor":"XX","v":1,"ts":"` + now + `"}]}`)},  // unknown sensor
			message{prefix + "/slow", []byte(`{"readings":[{"sensor":"TS2","v":1,"ts":"` + now + `"}]}`)}, // inactive
			message{prefix + "/slow", []byte(`{"readings":[{"sensor":"PS1","v":1,"ts":"` + now + `"}]}`)}, // wrong topic
		)
		newPublisher(t, url).publish(t, msgs, 32)
		got := store.waitFor(t, len(st.Want), 30*time.Second)
		waitUntil(t, 10*time.Second, "every message acknowledged", func() bool { return r.in.Stats().Acked == uint64(len(msgs)) })
		checkExactlyOnce(t, st.Want, got)
		s := r.in.Stats()
		assert.EqualValues(t, bad, s.Rejected[ReasonMalformed])
		assert.EqualValues(t, 1, s.Rejected[ReasonOutOfRange])
		assert.EqualValues(t, 1, s.Rejected[ReasonFuture])
		assert.EqualValues(t, 2, s.Rejected[ReasonUnknownSensor])
		assert.EqualValues(t, 1, s.Rejected[ReasonInactiveSensor])
		assert.True(t, s.Connected)
		rej := r.in.Rejections()
		require.NotEmpty(t, rej)
		var reasons []Reason
		for _, x := range rej {
			reasons = append(reasons, x.Reason)
		}
		assert.Contains(t, reasons, ReasonMalformed)
		assert.Contains(t, reasons, ReasonUnknownSensor)
	})
}

// TestUnknownTopic: a subscription left in the persistent session by an
// older firmware config brings messages on a topic the current config
// does not have: they are acknowledged and counted, not stored.
func TestUnknownTopic(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		name := uniqueName()
		prefix := "hydrognn-test/" + name
		old := testRig(prefix, name)
		opts := ingestOptions(t, url)
		r := startIngest(t, old, newStore(), opts)
		r.stop(t)

		cur := testRig(prefix, name)
		cur.Sensors = cur.Sensors[:2] // only the fast topic now
		store := newStore()
		r = startIngest(t, cur, store, opts)
		now := time.Now().UTC().Format(time.RFC3339Nano)
		newPublisher(t, url).publish(t, []message{
			{prefix + "/virtual/CE", []byte(`{"v":1,"ts":"` + now + `"}`)},
			{prefix + "/virtual/CE", []byte(`{"v":2,"ts":"` + now + `"}`)},
		}, 2)
		waitUntil(t, 10*time.Second, "two acknowledgements", func() bool { return r.in.Stats().Acked == 2 })
		s := r.in.Stats()
		assert.EqualValues(t, 2, s.Rejected[ReasonUnknownTopic])
		assert.Empty(t, store.readings())
	})
}

// blockingStore never commits: Append waits for its ctx.
type blockingStore struct{ calls atomic.Int32 }

func (s *blockingStore) Append(ctx context.Context, _ []reading.Reading) error {
	s.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

// TestDrainTimeout: a store that hangs cannot hold the agent's shutdown:
// Run returns after DrainTimeout, nothing is acknowledged, and the next
// ingest with the same session gets every message again.
func TestDrainTimeout(t *testing.T) {
	url := startBroker(t, broker.Options{}).URL()
	cfg := uniqueRig()
	opts := Options{Broker: url, ClientID: "drain-" + randomHex(4), DrainTimeout: 200 * time.Millisecond}
	hung := &blockingStore{}
	r := startIngest(t, cfg, hung, opts)
	st := makeStream(t, cfg, time.Now().Add(-time.Hour), 20, 10)
	newPublisher(t, url).publish(t, st.Msgs, 8)
	waitUntil(t, 10*time.Second, "an Append under way", func() bool { return hung.calls.Load() > 0 })
	began := time.Now()
	r.stop(t)
	assert.Less(t, time.Since(began), 3*time.Second)
	assert.Zero(t, r.in.Stats().Acked)

	store := newStore()
	startIngest(t, cfg, store, opts)
	checkExactlyOnce(t, st.Want, store.waitFor(t, len(st.Want), 20*time.Second))
}

// TestZemaRig: the shipped firmware config of the ZeMA test rig (binary,
// csv, json-batch and json topics; 17 sensors, several scaled), its topics
// moved under a unique prefix, through both brokers.
func TestZemaRig(t *testing.T) {
	forEachBroker(t, func(t *testing.T, url string) {
		cfg, err := rig.Load("../../../firmware-configs/zema-testrig.yaml")
		require.NoError(t, err)
		prefix := "hydrognn-test/" + uniqueName() + "/"
		for i := range cfg.Sensors {
			cfg.Sensors[i].MQTT.Topic = prefix + cfg.Sensors[i].MQTT.Topic
		}
		store := newStore()
		r := startIngest(t, cfg, store, ingestOptions(t, url))
		st := makeStream(t, cfg, time.Now().Add(-time.Hour), 100, 20)
		newPublisher(t, url).publish(t, st.Msgs, 32)
		checkExactlyOnce(t, st.Want, store.waitFor(t, len(st.Want), 30*time.Second))
		s := r.in.Stats()
		assert.Zero(t, s.RejectedTotal(), "rejected: %v", s.Rejected)
		assert.Zero(t, s.Gaps)
	})
}
