package rigctl

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/dataset/uci/ucitest"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestEvalMatchesRowsBySensorID: `rigctl model eval` of the shipped zema
// bundle on real UCI cycles under a config revision that only reorders
// two sensors (the bundle rebound to it by its config_digest, which
// agent/infer supports) scores exactly as under the original config: the
// data's rows are matched to the bundle's inputs by sensor id, as the
// agent matches readings. The old eval fed them by position, PS1's
// readings into TS1's input, and scored cooler 0.25 instead of 1.
func TestEvalMatchesRowsBySensorID(t *testing.T) {
	needORT(t)
	data := ucitest.Subset(t, 50)
	src := filepath.Join("..", "..", "..", "models", "bundles", "zema-testrig")
	cfg, err := rig.Load(zemaRig)
	require.NoError(t, err)
	eval := func(cfg *rig.Config, dir string) *evalResult {
		t.Helper()
		m, err := openModel(dir, cfg, "", 1)
		require.NoError(t, err)
		defer m.Close()
		ds, err := loadLabelled(dataRef{Kind: "uci", Dir: data}, cfg, m.Spec())
		require.NoError(t, err)
		res, err := evaluate(context.Background(), m, cfg, ds)
		require.NoError(t, err)
		return res
	}
	want := eval(cfg, src)
	require.NotEmpty(t, want.Targets)

	swapped := *cfg
	swapped.Sensors = slices.Clone(cfg.Sensors)
	a := slices.IndexFunc(swapped.Sensors, func(s rig.Sensor) bool { return s.ID == "PS1" })
	b := slices.IndexFunc(swapped.Sensors, func(s rig.Sensor) bool { return s.ID == "TS1" })
	require.True(t, a >= 0 && b >= 0)
	swapped.Sensors[a], swapped.Sensors[b] = swapped.Sensors[b], swapped.Sensors[a]
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(src)))
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	man.ConfigDigest = swapped.Digest()
	require.NotEqual(t, cfg.Digest(), man.ConfigDigest)
	require.NoError(t, bundle.Write(dir, man))

	got := eval(&swapped, dir)
	require.Equal(t, want.N, got.N)
	require.Len(t, got.Targets, len(want.Targets))
	for i, tm := range got.Targets {
		assert.Equal(t, want.Targets[i].Confusion, tm.Confusion, "%s: accuracy %.3f, by id %.3f", tm.Name, tm.Accuracy, want.Targets[i].Accuracy)
	}
}

// TestLoadLabelledNamesMissingSensors: a data set read for a config in
// which sensors the bundle's input needs are inactive (so the data set
// has no rows of them) is refused, naming the sensors (the old
// loadLabelled passed it on, to fail later on the grid's shape).
func TestLoadLabelledNamesMissingSensors(t *testing.T) {
	cfg, err := rig.Load(zemaRig)
	require.NoError(t, err)
	man, err := bundle.Load(filepath.Join("..", "..", "..", "models", "bundles", "zema-testrig"))
	require.NoError(t, err)
	less := *cfg
	less.Sensors = slices.Clone(cfg.Sensors)
	for i := range less.Sensors {
		less.Sensors[i].Inactive = less.Sensors[i].ID == "TS4" || less.Sensors[i].ID == "VS1"
	}
	_, err = loadLabelled(dataRef{Kind: "uci", Dir: writeUCI(t, zemaRig, 4, 2, 1)}, &less, man.Input)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no data of sensor(s) TS4, VS1, which the bundle's input needs")
}
