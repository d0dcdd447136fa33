package rigctl

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
)

// flaggedZema writes the ZeMA config with SE marked may_drop_out and
// returns its path.
func flaggedZema(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(zemaRig)
	require.NoError(t, err)
	old := []byte("{id: SE, kind: efficiency,")
	require.Equal(t, 1, bytes.Count(b, old))
	b = bytes.Replace(b, old, []byte("{id: SE, kind: efficiency, may_drop_out: true,"), 1)
	p := filepath.Join(t.TempDir(), "zema-testrig.yaml")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// --sensor-dropout reaches the trainer and the bundle's provenance
// (dropout_sensors and sensor_dropout, as export.Hyperparameters records
// them); 0 turns it off; a probability of 1 or more is a usage error
// before any work.
func TestTrainSensorDropoutFlag(t *testing.T) {
	rigPath := flaggedZema(t)
	data := writeUCI(t, zemaRig, 8, 4, 1)

	dir, _, _ := trainTiny(t, rigPath, "uci:"+data, "--sensor-dropout", "0.35", "--int8", "none", "--report", "none")
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, []any{"SE"}, man.Provenance.Config[bundle.DropoutSensorsKey])
	assert.EqualValues(t, 0.35, man.Provenance.Config["sensor_dropout"])

	// The default: 0.2.
	dir, _, _ = trainTiny(t, rigPath, "uci:"+data, "--int8", "none", "--report", "none")
	man, err = bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, []any{"SE"}, man.Provenance.Config[bundle.DropoutSensorsKey])
	assert.EqualValues(t, 0.2, man.Provenance.Config["sensor_dropout"])

	// Off: no sensor trained with dropout, none listed.
	for _, off := range []string{"0", "-1"} {
		dir, _, _ = trainTiny(t, rigPath, "uci:"+data, "--sensor-dropout", off, "--int8", "none", "--report", "none")
		man, err = bundle.Load(dir)
		require.NoError(t, err)
		assert.NotContains(t, man.Provenance.Config, bundle.DropoutSensorsKey, off)
		assert.NotContains(t, man.Provenance.Config, "sensor_dropout", off)
	}

	out := filepath.Join(t.TempDir(), "bundle")
	for _, p := range []string{"1", "1.5", "NaN"} {
		for _, args := range [][]string{
			{"train", "--rig", rigPath, "--data", "uci:" + data, "--out", out, "--sensor-dropout", p},
			{"bench", "uci", "--train", data, "--test", data, "--rig", rigPath, "--sensor-dropout", p},
		} {
			code, _, errOut := run(t, args...)
			assert.Equal(t, ExitUsage, code, "%v: %s", args, errOut)
			assert.Contains(t, errOut, "--sensor-dropout "+p, "%v", args)
		}
	}
	assert.NoDirExists(t, out)
}
