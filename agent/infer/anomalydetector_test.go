package infer

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDiagnoseDetectorPathNamesNothing: on the agent's detector path (the
// shipped skab-testbed bundle, no class heads, its SKAB Detector run on
// stride-1 windows as rig-agent's windowing does), the anomaly-head
// findings on an experiment file with a valve fault stay unexplained:
// diag.NameAnomaly's rules read window means in sd of statistics this
// bundle composed from one calibration file, and named such findings
// overheating and the like (namesAnomalies, r.Detector). Every row of
// valve1/1.csv after the Detector's calibration is diagnosed.
func TestDiagnoseDetectorPathNamesNothing(t *testing.T) {
	cfg, set := skabData(t)
	m, err := Open("../../models/bundles/skab-testbed", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	s := -1
	for i := range set.Experiments {
		if strings.HasSuffix(filepath.ToSlash(set.Experiments[i].Name), "valve1/1.csv") {
			s = i
		}
	}
	require.GreaterOrEqual(t, s, 0, "valve1/1.csv")
	x := set.Experiments[s]
	det, err := m.NewDetector(nil)
	require.NoError(t, err)
	spec, T := m.Spec(), m.T
	grid := make([][]float64, len(x.Values))
	var res Result
	diagnosed, findings, named := 0, 0, 0
	var first string // the first named finding or suspected reason
	for e := T - 1; e < x.Rows(); e++ {
		for i := range grid {
			grid[i] = x.Values[i][e-T+1 : e+1]
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(t, err)
		_, err = det.Run(&res, w)
		require.NoError(t, err)
		require.NotNil(t, res.Detector)
		if res.Detector.Calibrating {
			continue
		}
		d, err := m.Diagnose(&res, w, 0)
		require.NoError(t, err)
		diagnosed++
		for _, a := range d.Anomalies {
			if a.Fault == rig.FaultSensor {
				continue
			}
			findings++
			if a.Fault != "" {
				named++
				first = cmp.Or(first, fmt.Sprintf("row %d: %+v", e, a))
			}
		}
		for _, rec := range d.Recommendations {
			if strings.Contains(rec.Reason, "suspected") {
				named++
				first = cmp.Or(first, fmt.Sprintf("row %d: %s", e, rec.Reason))
			}
		}
	}
	assert.Zero(t, named, "findings named on the detector path; the first: %s", first)
	require.Positive(t, diagnosed)
	require.Positive(t, findings, "the anomaly head flags rows of the file: the case under test")
	t.Logf("%d windows diagnosed, %d anomaly-head findings", diagnosed, findings)
}
