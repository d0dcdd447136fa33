package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// agent.stall_after, the heartbeat limit of the agent's loops: 2m by
// default, 30s-1h, with an error naming the key and the range.
func TestStallAfterKey(t *testing.T) {
	assert.Equal(t, 2*time.Minute, Defaults().Agent.StallAfter)
	cfg, err := Parse("/etc/a.yaml", []byte("agent: {data_dir: /d, stall_after: 45s}\n"+
		"rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, 45*time.Second, cfg.Agent.StallAfter)
	for _, tc := range []struct{ yaml, want string }{
		{"agent: {stall_after: 5s}\n", "agent.stall_after: 5s is out of range [30s, 1h0m0s]"},
		{"agent: {stall_after: 2h}\n", "agent.stall_after: 2h0m0s is out of range [30s, 1h0m0s]"},
	} {
		errs := parseErrsNoAgent(t, tc.yaml)
		require.Len(t, errs, 1, "%s: %q", tc.yaml, errs)
		assert.Contains(t, errs[0], tc.want)
	}
}
