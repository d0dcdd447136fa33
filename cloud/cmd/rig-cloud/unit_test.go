package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
)

const (
	cloudUnit       = "../../../deploy/systemd/rig-cloud@.service"
	workerGPUDropIn = "../../../deploy/systemd/rig-cloud@worker.service.d/gpu.conf"
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

// execArgs returns ExecStart's arguments after the binary, with %i
// replaced by instance.
func execArgs(t *testing.T, u unitFile, instance string) []string {
	t.Helper()
	exec := u.values("ExecStart")
	require.Len(t, exec, 1)
	f := strings.Fields(strings.ReplaceAll(exec[0], "%i", instance))
	require.Equal(t, "/usr/local/bin/rig-cloud", f[0])
	return f[1:]
}

// The unit is a template for the API and the workers: each instance's
// command line is rig-cloud's, with the config file its header installs
// readable by the service's user (in no group of the host: 0640
// root:root stops the start), and every instance runs as the one user
// rig-cloud, so that none takes the shared blob store from another
// (StateDirectory= hands it to the unit starting).
func TestUnitTemplate(t *testing.T) {
	u := readUnit(t, cloudUnit)
	var cfgPath string
	for _, sub := range []string{"serve", "worker"} {
		args := execArgs(t, u, sub)
		assert.Equal(t, sub, args[0])
		i := slices.Index(args, "--config")
		require.Positive(t, i, "ExecStart %q has no --config", args)
		require.Less(t, i+1, len(args))
		cfgPath = args[i+1]
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		require.NoError(t, os.WriteFile(bad, []byte("server:\n  listn: x\n"), 0o600))
		try := slices.Clone(args)
		try[i+1] = bad
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), try, &stdout, &stderr))
		assert.Contains(t, stderr.String(), `unknown key "listn"`, "rig-cloud %q did not read its config", args)
		assert.NotContains(t, stderr.String(), "usage:")
	}

	assert.Equal(t, []string{"yes"}, u.values("DynamicUser"))
	mode := u.installMode(t, cfgPath)
	assert.NotZero(t, mode&0o004, "%s is installed with mode %04o: the service's user cannot read it", cfgPath, mode)
	assert.Zero(t, mode&0o022, "%s is installed writable by others (%04o)", cfgPath, mode)
	assert.Equal(t, []string{"rig-cloud"}, u.values("User"), "one user for serve and worker")
	assert.Equal(t, []string{"rig-cloud"}, u.values("Group"))
	assert.Equal(t, []string{"rig-cloud"}, u.values("StateDirectory"))
	assert.NotZero(t, u.installMode(t, "/etc/systemd/system/")&0o004)
}

// Under the unit, what rig-cloud writes is in its State- and
// CacheDirectory (ProtectSystem=strict): the blob store in the state
// directory, a worker's scratch in the cache directory, not in the
// private /tmp (on many hosts a tmpfs in RAM, too small for a data set
// of worker.max_extract_bytes).
func TestUnitWritablePaths(t *testing.T) {
	u := readUnit(t, cloudUnit)
	assert.Equal(t, []string{"strict"}, u.values("ProtectSystem"))
	env := []string{"RIG_CLOUD_DATABASE_URL=postgres://u@db:5432/rigcloud"}
	for _, e := range u.values("Environment") {
		env = append(env, strings.Trim(e, `"`))
	}
	cfg, err := config.Parse("/etc/hydrognn/rig-cloud.yaml", nil, env)
	require.NoError(t, err, "the unit's Environment= with the defaults")
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	state := "/var/lib/" + strings.Join(u.values("StateDirectory"), "")
	cache := "/var/cache/" + strings.Join(u.values("CacheDirectory"), "")
	assert.True(t, under(cfg.Blob.Dir, state), "blob.dir %s is not in the state directory %s", cfg.Blob.Dir, state)
	assert.True(t, under(cfg.Worker.WorkDir, cache), "worker.work_dir %q is not in the cache directory %s", cfg.Worker.WorkDir, cache)
}

// The unit's PrivateDevices=yes hides the GPUs; the worker's drop-in
// gives the NVIDIA devices back, and docs/cloud.md names it where workers
// on GPUs are described.
func TestWorkerGPUDropIn(t *testing.T) {
	u := readUnit(t, cloudUnit)
	require.Equal(t, []string{"yes"}, u.values("PrivateDevices"))
	d := readUnit(t, workerGPUDropIn)
	assert.Equal(t, []string{"no"}, d.values("PrivateDevices"))
	assert.Equal(t, []string{"closed"}, d.values("DevicePolicy"))
	assert.Equal(t, []string{"char-nvidia* rw"}, d.values("DeviceAllow"))
	assert.Equal(t, []string{"video"}, d.values("SupplementaryGroups"))
	assert.NotZero(t, d.installMode(t, "/etc/systemd/system/rig-cloud@worker.service.d/gpu.conf")&0o004)

	docs, err := os.ReadFile("../../../docs/cloud.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(docs), "deploy/systemd/rig-cloud@worker.service.d/gpu.conf"), "docs/cloud.md names the drop-in")
}
