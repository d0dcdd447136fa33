package rigctl

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

func TestDataStatsUCILayout(t *testing.T) {
	dir := t.TempDir()
	set := &uci.Set{Sensors: uci.Sensors, Cycles: 4, CycleIDs: []int{1, 2, 3, 4}}
	for i := range uci.Sensors {
		rows := make([][]float64, 4)
		for c := range rows {
			// Sensor 0 follows the cooler class; the others are constant.
			v := 1.0
			if i == 0 {
				v = float64(c%2) * 10
			}
			rows[c] = []float64{v, v}
		}
		set.Data = append(set.Data, rows)
	}
	for c := 0; c < 4; c++ {
		set.Profile = append(set.Profile, []float64{float64(c % 2), 100, 0, 130, 0})
	}
	require.NoError(t, uci.Write(dir, set))

	code, out, errOut := run(t, "data", "stats", "--json", "uci:"+dir)
	require.Equal(t, ExitOK, code, errOut)
	var stats []sensorStats
	require.NoError(t, json.Unmarshal([]byte(out), &stats))
	require.Len(t, stats, len(uci.Sensors))
	assert.Equal(t, "PS1", stats[0].Sensor)
	assert.Equal(t, 8, stats[0].N)
	assert.InDelta(t, 5, stats[0].Mean, 1e-12)
	assert.InDelta(t, 2, stats[0].Separation["cooler"], 1e-12, "class means 0 and 10, std 5")
	assert.Zero(t, stats[1].Separation["cooler"], "a constant sensor separates nothing")
}

func TestDataStatsBadRef(t *testing.T) {
	code, _, errOut := run(t, "data", "stats", "csv:/tmp")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown kind "csv"`)
	code, _, errOut = run(t, "data", "stats", "uci:/does/not/exist")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "/does/not/exist")
}
