package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestHeldBacklogIsBoundedOverTopics: several topics of plugins that never
// start must not fill the embedded broker's in-flight window for the
// agent together, each below MaxHeldPerTopic: past MaxHeld over all the
// topics, their messages are acknowledged and rejected as
// plugin_unavailable too (3 topics x 4 held would pass the broker's
// HighWater of 8, and slow every publisher).
func TestHeldBacklogIsBoundedOverTopics(t *testing.T) {
	b := smallWindowBroker(t)
	url := b.URL()
	host := brokenPluginHost(t, 20*time.Millisecond, 200*time.Millisecond)

	name := uniqueName()
	broken := []string{"B1", "B2", "B3"}
	cfg := &rig.Config{RigType: "heldtotal", Sensors: []rig.Sensor{topicSensor(name, "JS", "json")}}
	for _, id := range broken {
		cfg.Sensors = append(cfg.Sensors, topicSensor(name, id, "plugin:broken"))
	}
	store := newStore()
	opts := heldOptions(t, url, host)
	const perTopic, total, each = 4, 5, 10
	opts.MaxHeldPerTopic, opts.MaxHeld = perTopic, total
	r := startIngest(t, cfg, store, opts)

	pub := newPublisher(t, url)
	var msgs []message
	for range each {
		for _, id := range broken {
			msgs = append(msgs, message{name + "/" + id, []byte("1")})
		}
	}
	pub.publish(t, msgs, 4)
	const n = 20
	pub.publish(t, jsonMessages(name+"/JS", time.Now().Add(-time.Minute), n), 4)
	got := store.waitFor(t, n, 30*time.Second)
	assert.Len(t, got, n, "every JSON reading stored")
	// At most total are held in any session: the others are acknowledged.
	want := uint64(len(msgs) - total)
	waitUntil(t, 15*time.Second, "the messages past MaxHeld rejected", func() bool {
		return r.in.Stats().Rejected[ReasonPluginUnavailable] >= want
	})
	waitUntil(t, 10*time.Second, "a second session", func() bool { return r.in.Stats().Sessions >= 2 })
	st, bs := r.in.Stats(), b.Stats()
	t.Logf("stats: sessions %d held %d waits %d plugin_unavailable %d; broker inflight_dropped %d dropped %d",
		st.Sessions, st.PluginHeld, st.PluginWaits, st.Rejected[ReasonPluginUnavailable], bs.InflightDropped, bs.MessagesDropped)
	assert.Equal(t, uint64(len(msgs)-total), st.Rejected[ReasonPluginUnavailable],
		"the messages held in the first session are held again in the next ones, not rejected")
	assert.Zero(t, bs.InflightDropped, "the broker dropped messages for the agent")
	assert.Zero(t, bs.MessagesDropped)
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
}

// TestMaxHeldOption: MaxHeld defaults to DefaultMaxHeld and must not be
// negative.
func TestMaxHeldOption(t *testing.T) {
	var o Options
	o.setDefaults("rig")
	assert.Equal(t, DefaultMaxHeld, o.MaxHeld)
	o.MaxHeld = -1
	require.ErrorIs(t, o.validate(), ErrOptions)
}
