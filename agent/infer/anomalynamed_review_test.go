package infer

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDiagnoseSKABNamesNothingOnNormalRows: the shipped skab-testbed
// bundle has no class heads and its normalisation statistics are one
// calibration file's operating point (Thermocouple std 0.043 degC), so
// a healthy SKAB rig sits tens of "sd" from them; its anomaly-head
// findings on normal rows were named overheating (tank, every window of
// other/5-12), vibration and the like, with urgent actions. They stay
// unexplained: Diagnose names nothing for such a bundle
// (namesAnomalies). Windows as rig-agent builds them (prep.FromGrid on
// the raw rows), every 15th, normal (label 0) rows of every file.
func TestDiagnoseSKABNamesNothingOnNormalRows(t *testing.T) {
	cfg, set := skabData(t)
	m, err := Open("../../models/bundles/skab-testbed", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	spec, T := m.Spec(), m.T
	windows, findings := 0, 0
	for _, s := range set.Experiments {
		grid := make([][]float64, len(s.Values))
		for e := T - 1; e < s.Rows(); e += 15 {
			if s.Anomaly != nil && s.Anomaly[e] {
				continue
			}
			for i := range grid {
				grid[i] = s.Values[i][e-T+1 : e+1]
			}
			w, err := prep.FromGrid(spec, grid)
			require.NoError(t, err)
			out, err := m.Run([]*prep.Window{w})
			require.NoError(t, err)
			r := out.Results[0]
			d, err := m.Diagnose(&r, w, 0)
			require.NoError(t, err)
			windows++
			for _, a := range d.Anomalies {
				if a.Fault == rig.FaultSensor {
					continue
				}
				findings++
				assert.Empty(t, a.Fault, "%s row %d: %+v", filepath.Base(s.Name), e, a)
			}
			for _, rec := range d.Recommendations {
				assert.NotContains(t, rec.Reason, "suspected", "%s row %d", filepath.Base(s.Name), e)
			}
		}
	}
	require.Positive(t, windows)
	require.Positive(t, findings, "the uncalibrated anomaly head flags normal SKAB rows: the case under test")
}

// diagnoseAt runs the shipped bundle m on a window with every sensor at
// its normalisation mean except z's (in sd), the anomaly scores of the
// sensors in drivers set to 1.6 (the rest 0.5), and returns the
// anomaly-head findings and recommendations on component comp.
func diagnoseAt(t *testing.T, m *Model, z map[string]float64, drivers []string, comp string,
	edit func(w *prep.Window)) ([]diag.Anomaly, []diag.Recommendation) {
	t.Helper()
	spec := m.Spec()
	grid := make([][]float64, len(spec.Sensors))
	for s, ss := range spec.Sensors {
		grid[s] = make([]float64, spec.Steps)
		for k := range grid[s] {
			grid[s][k] = ss.Mean + z[ss.ID]*ss.Std
		}
	}
	w, err := prep.FromGrid(spec, grid)
	require.NoError(t, err)
	if edit != nil {
		edit(w)
	}
	out, err := m.Run([]*prep.Window{w})
	require.NoError(t, err)
	r := out.Results[0]
	for i := range r.Sensors {
		r.Sensors[i].Score, r.Sensors[i].Anomalous = 0.5, false
		for _, id := range drivers {
			if r.Sensors[i].ID == id {
				r.Sensors[i].Score, r.Sensors[i].Anomalous = 1.6, true
			}
		}
	}
	d, err := m.Diagnose(&r, w, 0)
	require.NoError(t, err)
	var as []diag.Anomaly
	for _, a := range d.Anomalies {
		if len(a.Components) == 1 && a.Components[0] == comp && a.Fault != rig.FaultSensor {
			as = append(as, a)
		}
	}
	var recs []diag.Recommendation
	for _, rec := range d.Recommendations {
		if rec.Component == comp {
			recs = append(recs, rec)
		}
	}
	return as, recs
}

// TestDiagnoseNamingReadsOnlyTheComponentsCellsWithData (review r3,
// finding 9): the window mean the rules read skips masked cells (prep
// writes 0 there; a hand-made window with large values in them must not
// make the tank hot) and other components' sensors (P_PUMP far below
// normal and a driver does not stop the tank's overheating from being
// named, nor join its sensors).
func TestDiagnoseNamingReadsOnlyTheComponentsCellsWithData(t *testing.T) {
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/excavator.yaml")
	m, err := Open("../../models/bundles/excavator", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	tank := m.manifest.Input.Index("T_TANK")
	require.GreaterOrEqual(t, tank, 0)

	// T_TANK 1 sd warm where it has data; a fifth of its cells masked
	// with 25 sd in them: a mean over every cell would be 5.8 sd.
	as, _ := diagnoseAt(t, m, map[string]float64{"T_TANK": 1}, []string{"T_TANK"}, "tank", func(w *prep.Window) {
		T := w.Steps
		for k := tank * T; k < tank*T+T/5; k++ {
			w.Mask[k], w.Values[k] = 0, 25
		}
	})
	require.Len(t, as, 1)
	assert.Equal(t, rig.Fault(""), as[0].Fault, "masked cells read: %+v", as[0])

	// T_TANK 3 sd hot; the pump's pressure 3 sd low and a driver.
	as, _ = diagnoseAt(t, m, map[string]float64{"T_TANK": 3, "P_PUMP": -3}, []string{"T_TANK", "P_PUMP"}, "tank", nil)
	require.Len(t, as, 1)
	assert.Equal(t, rig.FaultOverheating, as[0].Fault, "another component's sensor read: %+v", as[0])
	assert.Equal(t, []string{"T_TANK"}, as[0].Sensors)
}

// TestDiagnoseNamedFindingListsTheRulesEvidence (review r3, findings 5
// and 7): on the ZeMA rig's filter_f1 (inlet PS5, outlet PS6, no
// differential-pressure sensor, no class head) the outlet pressure 3 sd
// low with the inlet normal is flow restriction (a loading element),
// not a pressure drop with a relief-valve action, and the inlet
// pressure the rule read is in the finding's sensors after the driver.
func TestDiagnoseNamedFindingListsTheRulesEvidence(t *testing.T) {
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/zema-testrig.yaml")
	m, err := Open("../../models/bundles/zema-testrig", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	as, recs := diagnoseAt(t, m, map[string]float64{"PS6": -3}, []string{"PS6"}, "filter_f1", nil)
	require.Len(t, as, 1)
	assert.Equal(t, rig.FaultFlowRestriction, as[0].Fault, "%+v", as[0])
	assert.Equal(t, []string{"PS6", "PS5"}, as[0].Sensors)
	require.Len(t, recs, 1)
	assert.Contains(t, recs[0].Reason, "PS6 3.0 sd below normal, PS5 0.0 sd")
	assert.True(t, strings.HasSuffix(recs[0].Reason, "; driven by PS6"), "the drivers are the anomaly head's: %s", recs[0].Reason)
	assert.Equal(t, actionFor(rig.Filter, rig.FaultFlowRestriction, as[0].Severity), recs[0].Action)
}
