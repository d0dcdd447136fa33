package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A config that was valid before agent.plugin_max_wait existed still
// loads whatever its broker.keep_alive (1s-1h): the default wait is the
// lesser of 5s and half keep_alive, so it is always below keep_alive
// (review r4 finding 1). An explicit 0 means the same default; an
// explicit value is still checked against keep_alive.
func TestPluginMaxWaitDefaultFollowsKeepAlive(t *testing.T) {
	base := "agent: {data_dir: /d}\nrig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"
	for _, tc := range []struct {
		yaml string
		want time.Duration
	}{
		{"broker: {keep_alive: 3s}\n", 1500 * time.Millisecond},
		{"broker: {keep_alive: 1s}\n", 500 * time.Millisecond},
		{"broker: {keep_alive: 5s}\n", 2500 * time.Millisecond},
		{"broker: {keep_alive: 10s}\n", 5 * time.Second},
		{"", 5 * time.Second}, // keep_alive 30s
	} {
		cfg, err := Parse("/etc/a.yaml", []byte(base+tc.yaml), nil)
		require.NoError(t, err, "%q", tc.yaml)
		assert.Equal(t, tc.want, cfg.Agent.PluginMaxWait, "%q", tc.yaml)
	}
	cfg, err := Parse("/etc/a.yaml", []byte(base), []string{"RIG_AGENT_BROKER_KEEP_ALIVE=2s"})
	require.NoError(t, err)
	assert.Equal(t, time.Second, cfg.Agent.PluginMaxWait, "derived after the environment")
	cfg, err = Parse("/etc/a.yaml", []byte("agent: {data_dir: /d, plugin_max_wait: 0s}\nrig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\nbroker: {keep_alive: 4s}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, 2*time.Second, cfg.Agent.PluginMaxWait, "0: the default")

	errs := parseErrsNoAgent(t, "agent: {plugin_max_wait: 3s}\nbroker: {keep_alive: 3s}\n")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], "agent.plugin_max_wait: 3s is not less than broker.keep_alive 3s")
	errs = parseErrsNoAgent(t, "broker: {keep_alive: 500ms}\n")
	require.Len(t, errs, 1, "only keep_alive's own error: %q", errs)
	assert.Contains(t, errs[0], "broker.keep_alive")
}
