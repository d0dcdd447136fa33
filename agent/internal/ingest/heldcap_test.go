package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestHeldTopicBacklogIsBounded: a plugin that never starts must not fill
// the embedded broker's in-flight window for the agent. Past
// MaxHeldPerTopic its topic's messages are acknowledged and rejected as
// plugin_unavailable, so that the broker neither slows every publisher
// (HighWater) nor drops the other topics' messages (MaxInflight), which
// their publishers were told arrived (review r10 F1: every JSON reading
// was lost).
func TestHeldTopicBacklogIsBounded(t *testing.T) {
	b := smallWindowBroker(t)
	url := b.URL()
	host := brokenPluginHost(t, 20*time.Millisecond, 200*time.Millisecond)

	name := uniqueName()
	cfg := &rig.Config{RigType: "heldcap", Sensors: []rig.Sensor{topicSensor(name, "BR", "plugin:broken"), topicSensor(name, "JS", "json")}}
	store := newStore()
	opts := heldOptions(t, url, host)
	opts.MaxHeldPerTopic = 2
	r := startIngest(t, cfg, store, opts)

	pub := newPublisher(t, url)
	var br []message
	for range 30 {
		br = append(br, message{name + "/BR", []byte("1")})
	}
	pub.publish(t, br, 4)
	const n = 20
	pub.publish(t, jsonMessages(name+"/JS", time.Now().Add(-time.Minute), n), 4)
	got := store.waitFor(t, n, 30*time.Second)
	assert.Len(t, got, n, "every JSON reading stored")
	waitUntil(t, 10*time.Second, "a second session", func() bool { return r.in.Stats().Sessions >= 2 })
	st, bs := r.in.Stats(), b.Stats()
	t.Logf("stats: sessions %d held %d waits %d acked %d plugin_unavailable %d; broker inflight_dropped %d dropped %d",
		st.Sessions, st.PluginHeld, st.PluginWaits, st.Acked, st.Rejected[ReasonPluginUnavailable], bs.InflightDropped, bs.MessagesDropped)
	assert.Zero(t, bs.InflightDropped, "the broker dropped messages for the agent")
	assert.Zero(t, bs.MessagesDropped)
	assert.GreaterOrEqual(t, st.Rejected[ReasonPluginUnavailable], uint64(30-2), "the plugin's topic past the bound is acknowledged, counted")
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
}
