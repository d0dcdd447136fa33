package rigctl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The demo runs end to end on the embedded broker: the simulated faults show
// in the table, every published reading arrives, and the live dropout is
// masked and named.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("simulates and streams two cycles")
	}
	code, out, errOut := runBin(t, "demo", "--configs", "../../../firmware-configs",
		"--rig", "../../../firmware-configs/zema-testrig.yaml", "--cycles", "3", "--live-cycles", "2")
	require.Equal(t, ExitOK, code, "stderr: %s\nstdout: %s", errOut, out)
	for _, want := range []string{
		"zema-testrig    9 components",
		"sequence gaps: 0",
		"window 1 (00:00:00, 60 steps x 17 sensors): coverage 100.0%",
		"missing [TS4]",
	} {
		assert.Contains(t, out, want)
	}
}

func TestDemoNeedsZemaRig(t *testing.T) {
	code, _, errOut := run(t, "demo", "--configs", "../../../firmware-configs",
		"--rig", "../../../firmware-configs/skab-testbed.yaml", "--cycles", "3")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "the demo needs the ZeMA test rig's components")
}
