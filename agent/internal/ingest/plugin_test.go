package ingest

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func TestMain(m *testing.M) {
	code := m.Run()
	agenttest.RemovePlugins()
	os.Exit(code)
}

// testPlugins builds the example plugin and the crashing and hanging test
// plugins of agent/internal/plugin/testdata once per test binary.
func testPlugins(t *testing.T) string {
	t.Helper()
	return agenttest.Plugins(t, plugin.BinaryPrefix, "example", "crasher", "hanger")
}

// TestPluginCodecs: sensors on plugin codecs through a real broker. The
// example plugin decodes; a payload that crashes the plugin, and one that
// hangs it, are retried on restarted plugins, then rejected as
// plugin_failed, while the readings around them are stored and the ingest
// keeps its session.
func TestPluginCodecs(t *testing.T) {
	host, err := plugin.NewHost(plugin.HostOptions{Dir: testPlugins(t), CallTimeout: 300 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Logger: testLogger(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = host.Close() })

	url := startBroker(t, broker.Options{}).URL()
	name := uniqueName()
	s := func(id, c string) rig.Sensor { return topicSensor(name, id, c) }
	cfg := &rig.Config{RigType: "plugins", Sensors: []rig.Sensor{
		s("EX", "plugin:example"), s("CR", "plugin:crasher"), s("HG", "plugin:hanger")}}
	store := newStore()
	r := startIngest(t, cfg, store, Options{Broker: url, ClientID: "plugin-test-" + randomHex(4),
		Plugins: func(n string) (Decoder, error) { return host.Codec(n) }})

	ms := time.Now().Add(-time.Minute).UnixMilli()
	line := func(k int) []byte { return fmt.Appendf(nil, ";%d;%d,5;%d", ms+int64(k), k, k+1) }
	var msgs []message
	for k := range 3 {
		msgs = append(msgs, message{name + "/EX", line(k)}, message{name + "/CR", line(k)}, message{name + "/HG", line(k)})
	}
	msgs = append(msgs, message{name + "/CR", []byte("crash")}, message{name + "/HG", []byte("hang")})
	for k := 3; k < 5; k++ {
		msgs = append(msgs, message{name + "/EX", line(k)}, message{name + "/CR", line(k)}, message{name + "/HG", line(k)})
	}
	newPublisher(t, url).publish(t, msgs, 4)
	got := store.waitFor(t, 15, 30*time.Second)
	waitUntil(t, 10*time.Second, "every message acknowledged", func() bool { return r.in.Stats().Acked == uint64(len(msgs)) })
	require.Len(t, got, 15)
	for _, x := range got {
		k := x.Time.UnixMilli() - ms
		assert.InDelta(t, float64(k)+0.5, x.Value, 1e-9)
		assert.EqualValues(t, k+1, x.Seq)
	}

	st := r.in.Stats()
	assert.EqualValues(t, 2, st.Rejected[ReasonPluginFailed])
	assert.EqualValues(t, 2*DefaultMaxDecodeFailures, st.DecodeFailures)
	assert.EqualValues(t, 1, st.Sessions, "the ingest kept its session")
	byName := map[string]plugin.Stats{}
	for _, ps := range host.Stats() {
		byName[ps.Name] = ps
	}
	t.Logf("plugins: %+v", byName)
	assert.EqualValues(t, DefaultMaxDecodeFailures, byName["crasher"].Crashes)
	assert.EqualValues(t, DefaultMaxDecodeFailures, byName["hanger"].Timeouts)
	assert.EqualValues(t, DefaultMaxDecodeFailures, byName["crasher"].Restarts)
	assert.EqualValues(t, DefaultMaxDecodeFailures, byName["hanger"].Restarts)
	assert.Zero(t, byName["example"].Restarts)
	assert.True(t, byName["crasher"].Running)
}
