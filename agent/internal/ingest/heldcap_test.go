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

// TestHeldTopicBacklogIsBounded: a plugin that never starts must not fill
// the embedded broker's in-flight window for the agent. Past
// MaxHeldPerTopic its topic's messages are acknowledged and rejected as
// plugin_unavailable, so that the broker neither slows every publisher
// (HighWater) nor drops the other topics' messages (MaxInflight), which
// their publishers were told arrived (review r10 F1: every JSON reading
// was lost).
func TestHeldTopicBacklogIsBounded(t *testing.T) {
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
	cfg := &rig.Config{RigType: "heldcap", Sensors: []rig.Sensor{s("BR", "plugin:broken"), s("JS", "json")}}
	store := newStore()
	opts := ingestOptions(t, url)
	opts.Plugins = func(n string) (Decoder, error) { return host.Codec(n) }
	opts.MaxPluginWait, opts.HeldRetry, opts.MaxHeldPerTopic = 200*time.Millisecond, time.Second, 2
	r := startIngest(t, cfg, store, opts)

	pub := newPublisher(t, url)
	var br []message
	for range 30 {
		br = append(br, message{name + "/BR", []byte("1")})
	}
	pub.publish(t, br, 4)
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
	waitUntil(t, 10*time.Second, "a second session", func() bool { return r.in.Stats().Sessions >= 2 })
	st, bs := r.in.Stats(), b.Stats()
	t.Logf("stats: sessions %d held %d waits %d acked %d plugin_unavailable %d; broker inflight_dropped %d dropped %d",
		st.Sessions, st.PluginHeld, st.PluginWaits, st.Acked, st.Rejected[ReasonPluginUnavailable], bs.InflightDropped, bs.MessagesDropped)
	assert.Zero(t, bs.InflightDropped, "the broker dropped messages for the agent")
	assert.Zero(t, bs.MessagesDropped)
	assert.GreaterOrEqual(t, st.Rejected[ReasonPluginUnavailable], uint64(30-2), "the plugin's topic past the bound is acknowledged, counted")
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
}
