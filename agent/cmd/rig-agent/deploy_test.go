package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// The files of deploy/ for a rig, tested against the agent as it is.
const (
	deployDir   = "../../../deploy"
	agentUnit   = deployDir + "/systemd/rig-agent.service"
	agentDropIn = deployDir + "/systemd/rig-agent.service.d"
)

// configArg returns the --config FILE of ExecStart.
func configArg(t *testing.T, u unitfiletest.File) string {
	t.Helper()
	exec := u.Values("ExecStart")
	require.Len(t, exec, 1)
	f := strings.Fields(exec[0])
	i := slices.Index(f, "--config")
	require.Positive(t, i, "ExecStart %q has no --config", exec[0])
	require.Less(t, i+1, len(f))
	return f[i+1]
}

// The unit runs the agent as a dynamic user, in no group of the host:
// the config its header installs must be readable by others, or the
// agent's first open fails (permission denied) and the unit restarts
// forever.
func TestUnitConfigReadable(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	require.Equal(t, []string{"yes"}, u.Values("DynamicUser"))
	cfg := configArg(t, u)
	mode := u.InstallMode(t, cfg)
	assert.NotZero(t, mode&0o004, "%s is installed with mode %04o: the dynamic user cannot read it", cfg, mode)
	assert.Zero(t, mode&0o022, "%s is installed writable by others (%04o)", cfg, mode)
	// The config is not passed as a credential instead.
	assert.NotContains(t, cfg, "%d", "the config path")
}
