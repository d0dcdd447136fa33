package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
)

// The embedded broker's session limits (review r3 finding 1): defaults,
// max_sessions derived from max_clients, and out-of-range values refused
// naming the key.
func TestBrokerSessionLimits(t *testing.T) {
	base := "rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"
	cfg, err := Parse("/etc/a.yaml", []byte(base), nil)
	require.NoError(t, err)
	assert.Equal(t, broker.DefaultSessionExpiry, cfg.Broker.Limits.SessionExpiry)
	assert.Equal(t, 4*64, cfg.Broker.Limits.MaxSessions)
	cfg, err = Parse("/etc/a.yaml", []byte(base+"broker: {embedded: true, limits: {max_clients: 10, session_expiry: 10m}}\n"),
		[]string{"RIG_AGENT_BROKER_LIMITS_MAX_SESSIONS=11"})
	require.NoError(t, err)
	assert.Equal(t, 10*time.Minute, cfg.Broker.Limits.SessionExpiry)
	assert.Equal(t, 11, cfg.Broker.Limits.MaxSessions, "the environment overrides the derived default")
	cfg, err = Parse("/etc/a.yaml", []byte(base+"broker: {embedded: true, limits: {max_clients: 10}}\n"), nil)
	require.NoError(t, err)
	assert.Equal(t, 40, cfg.Broker.Limits.MaxSessions)

	for extra, want := range map[string]string{
		"session_expiry: 59s":              "broker.limits.session_expiry: 59s is out of range [1m0s, 168h0m0s]",
		"session_expiry: 169h":             "broker.limits.session_expiry: 169h0m0s is out of range [1m0s, 168h0m0s]",
		"max_clients: 10, max_sessions: 9": "broker.limits.max_sessions: 9 is out of range [10, 1000000]",
		"max_sessions: 1000001":            "broker.limits.max_sessions: 1000001 is out of range [64, 1000000]",
	} {
		assert.Equal(t, []string{want}, parseErrs(t, "broker:\n  embedded: true\n  limits: {"+extra+"}\n"), extra)
	}
}
