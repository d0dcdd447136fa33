package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

const (
	cloudUnit       = "../../../deploy/systemd/rig-cloud@.service"
	workerGPUDropIn = "../../../deploy/systemd/rig-cloud@worker.service.d/gpu.conf"
)

// execArgs returns ExecStart's arguments after the binary, with %i
// replaced by instance.
func execArgs(t *testing.T, u unitfiletest.File, instance string) []string {
	t.Helper()
	exec := u.Values("ExecStart")
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
	u := unitfiletest.Read(t, cloudUnit)
	var cfgPath string
	for _, sub := range []string{"serve", "worker"} {
		args := execArgs(t, u, sub)
		assert.Equal(t, sub, args[0])
		cfgPath = readsConfig(t, args)
	}

	assert.Equal(t, []string{"yes"}, u.Values("DynamicUser"))
	mode := u.InstallMode(t, cfgPath)
	assert.NotZero(t, mode&0o004, "%s is installed with mode %04o: the service's user cannot read it", cfgPath, mode)
	assert.Zero(t, mode&0o022, "%s is installed writable by others (%04o)", cfgPath, mode)
	assert.Equal(t, []string{"rig-cloud"}, u.Values("User"), "one user for serve and worker")
	assert.Equal(t, []string{"rig-cloud"}, u.Values("Group"))
	assert.Equal(t, []string{"rig-cloud"}, u.Values("StateDirectory"))
	assert.NotZero(t, u.InstallMode(t, "/etc/systemd/system/")&0o004)
}

// Under the unit, what rig-cloud writes is in its State- and
// CacheDirectory (ProtectSystem=strict): the blob store in the state
// directory, a worker's scratch in the cache directory, not in the
// private /tmp (on many hosts a tmpfs in RAM, too small for a data set
// of worker.max_extract_bytes).
func TestUnitWritablePaths(t *testing.T) {
	u := unitfiletest.Read(t, cloudUnit)
	assert.Equal(t, []string{"strict"}, u.Values("ProtectSystem"))
	env := []string{"RIG_CLOUD_DATABASE_URL=postgres://u@db:5432/rigcloud"}
	for _, e := range u.Values("Environment") {
		env = append(env, strings.Trim(e, `"`))
	}
	cfg, err := config.Parse("/etc/hydrognn/rig-cloud.yaml", nil, env)
	require.NoError(t, err, "the unit's Environment= with the defaults")
	under := func(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
	state := "/var/lib/" + strings.Join(u.Values("StateDirectory"), "")
	cache := "/var/cache/" + strings.Join(u.Values("CacheDirectory"), "")
	assert.True(t, under(cfg.Blob.Dir, state), "blob.dir %s is not in the state directory %s", cfg.Blob.Dir, state)
	assert.True(t, under(cfg.Worker.WorkDir, cache), "worker.work_dir %q is not in the cache directory %s", cfg.Worker.WorkDir, cache)
}

// The unit's PrivateDevices=yes hides the GPUs; the worker's drop-in
// gives the NVIDIA devices back, and docs/cloud.md names it where workers
// on GPUs are described.
func TestWorkerGPUDropIn(t *testing.T) {
	u := unitfiletest.Read(t, cloudUnit)
	require.Equal(t, []string{"yes"}, u.Values("PrivateDevices"))
	d := unitfiletest.Read(t, workerGPUDropIn)
	assert.Equal(t, []string{"no"}, d.Values("PrivateDevices"))
	assert.Equal(t, []string{"closed"}, d.Values("DevicePolicy"))
	assert.Equal(t, []string{"char-nvidia* rw"}, d.Values("DeviceAllow"))
	assert.Equal(t, []string{"video"}, d.Values("SupplementaryGroups"))
	assert.NotZero(t, d.InstallMode(t, "/etc/systemd/system/rig-cloud@worker.service.d/gpu.conf")&0o004)

	docs, err := os.ReadFile("../../../docs/cloud.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(docs), "deploy/systemd/rig-cloud@worker.service.d/gpu.conf"), "docs/cloud.md names the drop-in")
}
