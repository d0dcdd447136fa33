package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest"
)

// agent.plugin_max_wait and agent.plugin_held_retry set the ingest's
// MaxPluginWait and HeldRetry (hard-coded before): the defaults are the
// ingest's, each is checked against its range, and the wait must stay
// below broker.keep_alive, with errors naming the key.
func TestPluginWaitKeys(t *testing.T) {
	d := Defaults()
	assert.Zero(t, d.Agent.PluginMaxWait, "derived from broker.keep_alive")
	assert.Equal(t, ingest.DefaultHeldRetry, d.Agent.PluginHeldRetry)

	base := "agent: {data_dir: /d}\nrig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"
	cfg, err := Parse("/etc/a.yaml", []byte(base), nil)
	require.NoError(t, err)
	assert.Equal(t, ingest.DefaultMaxPluginWait, cfg.Agent.PluginMaxWait, "default with keep_alive 30s")
	assert.Equal(t, 10*time.Second, cfg.Agent.PluginHeldRetry, "default unchanged")

	cfg, err = Parse("/etc/a.yaml", []byte("agent: {data_dir: /d, plugin_max_wait: 20s, plugin_held_retry: 2m}\n"+
		"rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, 20*time.Second, cfg.Agent.PluginMaxWait)
	assert.Equal(t, 2*time.Minute, cfg.Agent.PluginHeldRetry)

	for _, tc := range []struct{ yaml, want string }{
		{"agent: {plugin_max_wait: 10ms}\n", "agent.plugin_max_wait: 10ms is out of range [100ms, 1m0s]"},
		{"agent: {plugin_max_wait: 2m}\n", "agent.plugin_max_wait: 2m0s is out of range [100ms, 1m0s]"},
		{"agent: {plugin_max_wait: 30s}\n", "agent.plugin_max_wait: 30s is not less than broker.keep_alive 30s"},
		{"agent: {plugin_max_wait: 10s}\nbroker: {keep_alive: 5s}\n", "agent.plugin_max_wait: 10s is not less than broker.keep_alive 5s"},
		{"agent: {plugin_held_retry: 500ms}\n", "agent.plugin_held_retry: 500ms is out of range [1s, 1h0m0s]"},
		{"agent: {plugin_held_retry: 2h}\n", "agent.plugin_held_retry: 2h0m0s is out of range [1s, 1h0m0s]"},
	} {
		errs := parseErrsNoAgent(t, tc.yaml)
		require.Len(t, errs, 1, "%s: %q", tc.yaml, errs)
		assert.Contains(t, errs[0], tc.want)
	}
	assert.Nil(t, parseErrsNoAgent(t, "agent: {plugin_max_wait: 4s}\nbroker: {keep_alive: 5s}\n"))
}

// parseErrsNoAgent is parseErrs for a config whose extra holds the
// agent mapping (parseErrs' base has one): data_dir is added to it.
func parseErrsNoAgent(t *testing.T, extra string) []string {
	t.Helper()
	data := "rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n" + strings.Replace(extra, "agent: {", "agent: {data_dir: /d, ", 1)
	_, err := Parse("/etc/a.yaml", []byte(data), nil)
	if err == nil {
		return nil
	}
	var es Errors
	require.True(t, errors.As(err, &es), "%v", err)
	var out []string
	for _, e := range es {
		out = append(out, e.Path+": "+e.Msg)
	}
	return out
}
