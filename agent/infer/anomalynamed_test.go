package infer

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDiagnoseNamesAnomalyHeadFindings: an anomaly-head finding on a
// component no class head covers (the excavator's tank) was always
// unexplained (fault ""); now diag.NameAnomaly's rules name it from the
// window means of the component's sensors: T_TANK 3 sd above normal is
// overheating, with half the anomaly head's confidence and the evidence
// in the recommendation's reason; 1 sd above normal (or below) stays
// unexplained, and so does 3 sd on the detector path (r.Detector set).
func TestDiagnoseNamesAnomalyHeadFindings(t *testing.T) {
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/excavator.yaml")
	m, err := Open("../../models/bundles/excavator", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	spec := m.Spec()
	const score = 1.6
	var last diag.Diagnosis // the latest diagnosis as the cloud decodes it
	// det, when set, is the Result's SKAB detector score: the detector
	// path, where no finding is named.
	diagnose := func(tankZ float64, det *DetectorScore) diag.Anomaly {
		t.Helper()
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = make([]float64, spec.Steps)
			for k := range grid[s] {
				grid[s][k] = ss.Mean
				if ss.ID == "T_TANK" {
					grid[s][k] = ss.Mean + tankZ*ss.Std
				}
			}
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(t, err)
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		r := out.Results[0]
		r.Detector = det
		for i := range r.Sensors { // only the tank is anomalous
			r.Sensors[i].Score, r.Sensors[i].Anomalous = 0.5, false
			if r.Sensors[i].ID == "T_TANK" {
				r.Sensors[i].Score, r.Sensors[i].Anomalous = score, true
			}
		}
		d, err := m.Diagnose(&r, w, 0)
		require.NoError(t, err)
		b, err := json.Marshal(d)
		require.NoError(t, err)
		last = diag.Diagnosis{}
		require.NoError(t, json.Unmarshal(b, &last))
		var tank []diag.Anomaly
		for _, a := range d.Anomalies {
			if len(a.Components) == 1 && a.Components[0] == "tank" {
				tank = append(tank, a)
			}
		}
		require.Len(t, tank, 1, "%+v", d.Anomalies)
		for _, rec := range d.Recommendations {
			if rec.Component == "tank" {
				assert.Equal(t, tank[0].Fault, rec.Fault)
				if tank[0].Fault != "" {
					assert.Contains(t, rec.Reason, "T_TANK 3.0 sd above normal: overheating suspected (one sensor: check T_TANK against a second reading, "+
						"a sensor offset or drift reads the same); anomaly score 1.6 times the calibrated threshold")
					assert.Equal(t, actionFor(rig.Reservoir, rig.FaultOverheating, diag.SeverityLow), rec.Action)
				}
			}
		}
		return tank[0]
	}
	a := diagnose(3, nil)
	assert.Equal(t, rig.FaultOverheating, a.Fault)
	assert.Equal(t, []string{"T_TANK"}, a.Sensors)
	assert.Equal(t, diag.SeverityLow, a.Severity)
	assert.InDelta(t, (1-1/score)*diag.RuleConfidence, a.Confidence, 1e-9)
	// The cloud tells the named finding from a class head's fault by
	// diag.SuspectedFault, after the wire's JSON round trip.
	for i := range last.Anomalies {
		an := &last.Anomalies[i]
		named := len(an.Components) == 1 && an.Components[0] == "tank"
		assert.Equal(t, named, diag.SuspectedFault(&last, an), "%+v", *an)
	}

	for _, z := range []float64{1, -3} {
		a := diagnose(z, nil)
		assert.Equal(t, rig.Fault(""), a.Fault, "T_TANK %v sd: unexplained", z)
		assert.InDelta(t, 1-1/score, a.Confidence, 1e-9)
	}

	// The same window on the detector path (r.Detector set, past its
	// calibration) of this bundle with class heads: the finding stays
	// unexplained. This pins the r.Detector term of the naming gate,
	// which TestDiagnoseDetectorPathNamesNothing cannot (its skab-testbed
	// bundle names nothing on two other counts: namesAnomalies).
	a = diagnose(3, &DetectorScore{Rows: 200, CalibRows: 100, Scored: len(spec.Sensors), Score: score, Anomalous: true, Sensor: "T_TANK"})
	assert.Equal(t, rig.Fault(""), a.Fault, "named on the detector path")
	assert.InDelta(t, 1-1/score, a.Confidence, 1e-9)
}
