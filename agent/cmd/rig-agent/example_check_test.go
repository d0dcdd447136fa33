package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example config passes rig-agent --check, the same check of the
// installed bundle the start makes (windowing.cycle_anchor included), with
// its two paths pointed at the bundle and firmware config it names.
func TestExampleConfigChecks(t *testing.T) {
	const example = deployDir + "/rig-agent.example.yaml"
	data, err := os.ReadFile(example)
	require.NoError(t, err)
	// The paths it names are the unit's and docs' /etc/hydrognn/.
	assert.Contains(t, string(data), "firmware_config: /etc/hydrognn/zema-testrig.yaml")
	assert.NotContains(t, string(data), "/etc/rig-agent/")
	assert.Contains(t, string(data), "bundle_dir: /var/lib/rig-agent/bundles/zema-testrig")

	abs := func(p string) string {
		a, err := filepath.Abs(p)
		require.NoError(t, err)
		return a
	}
	t.Setenv("RIG_AGENT_RIG_FIRMWARE_CONFIG", abs("../../../firmware-configs/zema-testrig.yaml"))
	t.Setenv("RIG_AGENT_MODEL_BUNDLE_DIR", abs("../../../models/bundles/zema-testrig"))
	t.Setenv("RIG_AGENT_AGENT_DATA_DIR", t.TempDir())
	var out, errb bytes.Buffer
	assert.Equal(t, 0, run([]string{"--config", example, "--check"}, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "valid (agent rig-001, rig zema-rig-1, bundle zema-testrig")
}
