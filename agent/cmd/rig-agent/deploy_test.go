package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The files of deploy/ for a rig, tested against the agent as it is.
const (
	deployDir   = "../../../deploy"
	agentUnit   = deployDir + "/systemd/rig-agent.service"
	agentDropIn = deployDir + "/systemd/rig-agent.service.d"
)

// unitFile is a systemd unit or drop-in: its directives (Key=Value lines,
// in order, the section dropped) and its comment lines (without '#').
type unitFile struct {
	directives [][2]string
	comments   []string
}

func readUnit(t *testing.T, path string) unitFile {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var u unitFile
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "#"):
			u.comments = append(u.comments, strings.TrimSpace(strings.TrimPrefix(line, "#")))
		case line == "" || strings.HasPrefix(line, "["):
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s: %q is no directive", path, line)
			u.directives = append(u.directives, [2]string{k, v})
		}
	}
	return u
}

// values returns the values of key, in order.
func (u unitFile) values(key string) []string {
	var out []string
	for _, d := range u.directives {
		if d[0] == key {
			out = append(out, d[1])
		}
	}
	return out
}

// installMode returns the mode of the header's `install ... -m MODE ...
// DEST` line that installs dest.
func (u unitFile) installMode(t *testing.T, dest string) os.FileMode {
	t.Helper()
	for _, c := range u.comments {
		f := strings.Fields(c)
		if len(f) < 3 || f[0] != "install" || f[len(f)-1] != dest {
			continue
		}
		i := slices.Index(f, "-m")
		require.Positive(t, i, "%q names no mode", c)
		m, err := strconv.ParseUint(f[i+1], 8, 32)
		require.NoError(t, err, c)
		return os.FileMode(m)
	}
	t.Fatalf("no install line for %s in the header", dest)
	return 0
}

// configArg returns the --config FILE of ExecStart.
func configArg(t *testing.T, u unitFile) string {
	t.Helper()
	exec := u.values("ExecStart")
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
	u := readUnit(t, agentUnit)
	require.Equal(t, []string{"yes"}, u.values("DynamicUser"))
	cfg := configArg(t, u)
	mode := u.installMode(t, cfg)
	assert.NotZero(t, mode&0o004, "%s is installed with mode %04o: the dynamic user cannot read it", cfg, mode)
	assert.Zero(t, mode&0o022, "%s is installed writable by others (%04o)", cfg, mode)
	// The config is not passed as a credential instead.
	assert.NotContains(t, cfg, "%d", "the config path")
}
