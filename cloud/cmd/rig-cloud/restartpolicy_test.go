package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// A crashed rig-cloud is restarted: the Go runtime exits 2 after a panic,
// a fatal error or SIGABRT, and rig-cloud's own usage and config errors
// exit 2 as well, so neither the unit nor its worker drop-in may keep 2
// (or another status of the runtime) from restarting, as rig-agent's unit
// once did (rig-agent's TestUnitRestartsOnGoRuntimeExits). A bad config
// is retried every 2 s (RestartSec) until it is fixed.
func TestUnitRestartsOnGoRuntimeExits(t *testing.T) {
	for _, path := range []string{cloudUnit, workerGPUDropIn} {
		u := unitfiletest.Read(t, path)
		prevented, signals := u.RestartPreventExitStatus(t)
		assert.Empty(t, signals, path)
		for _, code := range unitfiletest.GoRuntimeExitStatuses {
			assert.NotContains(t, prevented, code, "%s: RestartPreventExitStatus=%d is a status of Go's runtime", path, code)
		}
	}
	assert.Equal(t, []string{"always"}, unitfiletest.Read(t, cloudUnit).Values("Restart"))
}
