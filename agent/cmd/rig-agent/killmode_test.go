package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// systemctl stop signals the agent only: its codec plugins, killed beside
// it, would fail the decodes of the stop's drain of the embedded broker.
// The agent closes them itself after the drain.
func TestUnitKillModeMixed(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	assert.Equal(t, []string{"mixed"}, u.Values("KillMode"))
	assert.Equal(t, []string{"SIGTERM"}, u.Values("KillSignal"))
}
