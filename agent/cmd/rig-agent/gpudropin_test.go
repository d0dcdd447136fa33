package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// The unit's PrivateDevices=yes hides the GPU; the drop-in gpu.conf gives
// the NVIDIA device nodes back (and the group video of a Jetson's), and
// docs/jetson.md, where the GPU providers are configured, names it.
func TestGPUDropIn(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	require.Equal(t, []string{"yes"}, u.Values("PrivateDevices"))
	d := unitfiletest.Read(t, filepath.Join(agentDropIn, "gpu.conf"))
	assert.Equal(t, []string{"no"}, d.Values("PrivateDevices"))
	assert.Equal(t, []string{"closed"}, d.Values("DevicePolicy"), "only the NVIDIA devices beside the pseudo-devices")
	allow := d.Values("DeviceAllow")
	for _, want := range []string{"char-nvidia* rw", "char-nvhost* rw", "char-nvmap rw", "char-nvgpu* rw", "/dev/nvmap rw"} {
		assert.Contains(t, allow, want)
	}
	for _, a := range allow {
		dev, access, ok := strings.Cut(a, " ")
		assert.True(t, ok && access == "rw", "DeviceAllow=%s: access rw", a)
		assert.True(t, strings.HasPrefix(dev, "char-nv") || strings.HasPrefix(dev, "/dev/nv"), "DeviceAllow=%s: NVIDIA devices only", a)
	}
	assert.Equal(t, []string{"video"}, d.Values("SupplementaryGroups"))
	install := "/etc/systemd/system/rig-agent.service.d/gpu.conf"
	assert.NotZero(t, d.InstallMode(t, install)&0o004)

	docs, err := os.ReadFile("../../../docs/jetson.md")
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(docs), "deploy/systemd/rig-agent.service.d/gpu.conf"), "docs/jetson.md names the drop-in")
	assert.Contains(t, strings.Join(u.Comments, "\n"), "rig-agent.service.d/gpu.conf", "the unit names the drop-in")
}
