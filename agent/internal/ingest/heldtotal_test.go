package ingest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestHeldBacklogIsBoundedOverTopics: several topics of plugins that never
// start must not fill the embedded broker's in-flight window for the
// agent together, each below MaxHeldPerTopic: past MaxHeld over all the
// topics, their messages are acknowledged and rejected as
// plugin_unavailable too (3 topics x 4 held would pass the broker's
// HighWater of 8, and slow every publisher).
func TestHeldBacklogIsBoundedOverTopics(t *testing.T) {
	b := startBroker(t, broker.Options{MaxInflight: 16, HighWater: 8, MaxPublishWait: 200 * time.Millisecond})
	url := b.URL()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, plugin.BinaryPrefix+"broken"), []byte("#!/bin/sh\nexit 1\n"), 0o755))
	host, err := plugin.NewHost(plugin.HostOptions{Dir: dir, StartTimeout: 2 * time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = host.Close() })

	name := uniqueName()
	s := func(id, c string) rig.Sensor {
		return rig.Sensor{ID: id, Range: rig.Range{Min: 0, Max: 100}, MQTT: rig.MQTTBinding{Topic: name + "/" + id, Codec: c}}
	}
	broken := []string{"B1", "B2", "B3"}
	cfg := &rig.Config{RigType: "heldtotal", Sensors: []rig.Sensor{s("JS", "json")}}
	for _, id := range broken {
		cfg.Sensors = append(cfg.Sensors, s(id, "plugin:broken"))
	}
	store := newStore()
	opts := ingestOptions(t, url)
	opts.Plugins = func(n string) (Decoder, error) { return host.Codec(n) }
	const perTopic, total, each = 4, 5, 10
	opts.MaxPluginWait, opts.HeldRetry = 200*time.Millisecond, time.Second
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
	t0 := time.Now().Add(-time.Minute)
	var js []message
	const n = 20
	for k := range n {
		ts := t0.Add(time.Duration(k) * time.Second).UTC().Format(time.RFC3339Nano)
		js = append(js, message{name + "/JS", []byte(`{"v":1,"ts":"` + ts + `"}`)})
	}
	pub.publish(t, js, 4)
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
