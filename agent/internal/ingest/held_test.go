package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestUnavailablePluginHoldsOnlyItsTopic: a plugin that stays unavailable
// holds the serial handler for at most MaxPluginWait. Its topic is then
// held: that message and every later one on it are left unacknowledged
// (not decoded, so none overtakes it), the other topics are stored, and
// HeldRetry later the session ends for the broker to deliver the held
// messages again (review r7 F3: before, every topic waited for the plugin).
func TestUnavailablePluginHoldsOnlyItsTopic(t *testing.T) {
	h := newHarness(t, Options{MaxPluginWait: 150 * time.Millisecond, HeldRetry: 500 * time.Millisecond})
	calls := 0
	h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) {
		calls++
		return nil, fmt.Errorf("test: %w: %w: start failed", plugin.ErrFailed, plugin.ErrUnavailable)
	}
	handle := func(m *fakeMsg) time.Duration {
		t.Helper()
		start := time.Now()
		done := make(chan struct{})
		go func() { defer close(done); h.in.handle(h.s, m) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			h.s.halt(nil, true)
			<-done
			t.Fatalf("the handler held %s on topic %s", time.Since(start).Round(time.Millisecond), m.topic)
		}
		return time.Since(start)
	}

	first := &fakeMsg{topic: "t/p", payload: []byte("1")}
	took := handle(first)
	assert.GreaterOrEqual(t, took, 150*time.Millisecond, "it waited for the plugin")
	assert.Empty(t, h.s.queue, "not queued")
	assert.Zero(t, first.acks.Load(), "not acknowledged")
	calledBefore := calls

	it := h.send("t/a", js(1, clock.Add(-time.Minute), 1))
	require.NotNil(t, it, "another topic flows")
	assert.Len(t, it.readings, 1)

	later := &fakeMsg{topic: "t/p", payload: []byte("2")}
	took = handle(later)
	assert.Less(t, took, 100*time.Millisecond, "a held topic's message does not wait")
	assert.Equal(t, calledBefore, calls, "nor is it decoded")
	assert.Empty(t, h.s.queue)
	assert.Zero(t, later.acks.Load())

	select {
	case <-h.s.stop:
		require.ErrorIs(t, h.s.cause, errHeld)
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end to retry the held topic")
	}
	st := h.in.Stats()
	assert.EqualValues(t, 2, st.PluginHeld)
	assert.EqualValues(t, 1, st.PluginWaits)
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
}

// TestBrokenPluginDoesNotStallOtherTopics: through a real broker, a plugin
// that never starts holds its own topic, unacknowledged across sessions,
// while a JSON topic's messages are all stored (review r7 F3).
func TestBrokenPluginDoesNotStallOtherTopics(t *testing.T) {
	forEachBroker(t, testBrokenPluginDoesNotStallOtherTopics)
}

func testBrokenPluginDoesNotStallOtherTopics(t *testing.T, url string) {
	host := brokenPluginHost(t, 20*time.Millisecond, 200*time.Millisecond)

	name := uniqueName()
	cfg := &rig.Config{RigType: "held", Sensors: []rig.Sensor{topicSensor(name, "BR", "plugin:broken"), topicSensor(name, "JS", "json")}}
	store := newStore()
	opts := heldOptions(t, url, host)
	r := startIngest(t, cfg, store, opts)

	var msgs []message
	const n = 20
	for _, js := range jsonMessages(name+"/JS", time.Now().Add(-time.Minute), n) {
		msgs = append(msgs, message{name + "/BR", []byte("1")}, js)
	}
	newPublisher(t, url).publish(t, msgs, 4)
	got := store.waitFor(t, n, 30*time.Second)
	assert.Len(t, got, n, "every JSON reading stored")
	waitUntil(t, 10*time.Second, "a second session", func() bool { return r.in.Stats().Sessions >= 2 })
	st := r.in.Stats()
	t.Logf("stats: sessions %d held %d waits %d acked %d", st.Sessions, st.PluginHeld, st.PluginWaits, st.Acked)
	assert.EqualValues(t, n, st.Acked, "only the JSON messages acknowledged")
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
	assert.GreaterOrEqual(t, st.PluginHeld, uint64(n))
}
