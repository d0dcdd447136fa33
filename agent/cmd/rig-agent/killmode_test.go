package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// systemctl stop signals the agent only: its codec plugins, killed beside
// it, would fail the decodes of the stop's drain of the embedded broker.
// The agent closes them itself after the drain.
func TestUnitKillModeMixed(t *testing.T) {
	u := readUnit(t, agentUnit)
	assert.Equal(t, []string{"mixed"}, u.values("KillMode"))
	assert.Equal(t, []string{"SIGTERM"}, u.values("KillSignal"))
}
