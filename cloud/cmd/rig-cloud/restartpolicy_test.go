package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// A crashed rig-cloud is restarted, and what a restart does not mend is
// not retried every RestartSec for ever: the unit's
// RestartPreventExitStatus lists exactly rig-cloud's codes for a bad
// command line (64), an applied migration that differs from the binary's
// (65) and a bad config (78), never a status of Go's runtime (a panic, a
// fatal error or SIGABRT exits 2: crashrestart_test.go runs them), nor 1.
// The worker's drop-in starts the same command and changes none of it.
// docs/cloud.md names the list. Before, rig-cloud's usage and config
// errors exited 2 like a panic, so the unit could list nothing and
// restarted a bad config every 2 s for ever.
func TestUnitRestartsOnGoRuntimeExits(t *testing.T) {
	u := unitfiletest.Read(t, cloudUnit)
	u.CheckRestartPolicy(t, restartPrevented, []int{exitOK, exitFailure}, "../../../docs/cloud.md")
	assert.Equal(t, []string{"always"}, u.Values("Restart"))

	d := unitfiletest.Read(t, workerGPUDropIn)
	assert.Empty(t, d.Values("ExecStart"), "the drop-in starts the unit's command: its exit codes are rig-cloud's")
	assert.Empty(t, d.Values("RestartPreventExitStatus"), "the drop-in keeps the unit's list")
	assert.Empty(t, d.Values("Restart"))
}
