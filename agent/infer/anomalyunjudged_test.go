package infer

import (
	"math"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/dataset/uci/ucitest"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestDiagnoseMissingRequiredSensorJudgesNoAnomalyScore: the anomaly
// head's reconstruction mixes every node, so a missing required sensor
// (the shipped zema bundle requires all: no dropout_sensors) inflates the
// other sensors' errors; on real UCI cycles without TS1 (tank) the old
// Diagnose reported unexplained anomalies, some high, with
// recommendations, on the cooler, pumps and valves in every window. Now
// the anomaly scores are not judged: the only finding is the tank's
// sensor fault, which says so; the scores themselves are kept.
func TestDiagnoseMissingRequiredSensorJudgesNoAnomalyScore(t *testing.T) {
	needORT(t)
	data := ucitest.Subset(t, 200)
	cfg := loadRig(t, zemaConfig)
	m, err := Open("../../models/bundles/zema-testrig", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	spec := m.Spec()
	ds, err := train.LoadUCI(data, cfg, spec.GridHz)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ds.Len(), 5)
	r, err := prep.NewResampler(spec)
	require.NoError(t, err)
	for _, drop := range []string{"TS1", "PS1"} {
		comp := cfg.Sensor(drop).Component
		di := spec.Index(drop)
		require.GreaterOrEqual(t, di, 0)
		inflated := 0
		for i := range ds.Len() {
			g := make([][]float64, len(ds.Grids[i]))
			for s := range g {
				g[s] = slices.Clone(ds.Grids[i][s])
			}
			for k := range g[di] {
				g[di][k] = math.NaN()
			}
			w, err := r.FromGrid(g)
			require.NoError(t, err)
			w = w.Clone()
			require.Equal(t, []string{drop}, m.RequiredMissing(w))
			out, err := m.Run([]*prep.Window{w})
			require.NoError(t, err)
			d, err := m.Diagnose(&out.Results[0], w, 0)
			require.NoError(t, err)
			for _, c := range d.Components {
				if c.ID != comp && c.AnomalyScore >= 1 {
					inflated++ // kept, not judged
				}
			}
			require.Len(t, d.Anomalies, 1, "cycle %d without %s: %+v", i, drop, d.Anomalies)
			a := d.Anomalies[0]
			assert.Equal(t, rig.FaultSensor, a.Fault)
			assert.Equal(t, []string{comp}, a.Components)
			assert.Equal(t, diag.SeverityMedium, a.Severity)
			require.Len(t, d.Recommendations, 1)
			assert.Equal(t, comp, d.Recommendations[0].Component)
			assert.Contains(t, d.Recommendations[0].Reason, "components' health, anomaly scores not judged: the model was not trained to judge without "+drop)
		}
		// The case the gate is for: the other components' scores are
		// inflated in these windows.
		assert.Positive(t, inflated, "without %s no other component scored at or above 1: the test shows nothing", drop)
	}
}

// TestDiagnoseMissingRequiredSensorSetsNoDetectorStatus: a Detector's
// score is made of the anomaly head's errors, so while a required sensor
// is missing (the shipped skab-testbed bundle requires all) it sets no
// status either: the components and the rig stay unknown, and nothing but
// the sensor fault is found; with every sensor present the same score
// sets them.
func TestDiagnoseMissingRequiredSensorSetsNoDetectorStatus(t *testing.T) {
	needORT(t)
	cfg := loadRig(t, "../../firmware-configs/skab-testbed.yaml")
	m, err := Open("../../models/bundles/skab-testbed", cfg, Options{Logger: quiet})
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	spec := m.Spec()
	drop := spec.Sensors[0].ID
	diagnose := func(missing bool) *diag.Diagnosis {
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = make([]float64, spec.Steps)
			for k := range grid[s] {
				grid[s][k] = ss.Mean
				if missing && ss.ID == drop {
					grid[s][k] = math.NaN()
				}
			}
		}
		w, err := prep.FromGrid(spec, grid)
		require.NoError(t, err)
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		r := out.Results[0]
		for i := range r.Sensors {
			if !r.Sensors[i].Masked {
				r.Sensors[i].Score, r.Sensors[i].Anomalous = 5, true
			}
		}
		r.Detector = &DetectorScore{Rows: 500, CalibRows: 400, Score: 5, Anomalous: true, Sensor: r.Sensors[1].ID,
			Scored: len(r.Sensors) - min(1, len(w.Missing))}
		d, err := m.Diagnose(&r, w, 0)
		require.NoError(t, err)
		return d
	}
	d := diagnose(false)
	require.Equal(t, diag.Critical, d.Status, "every sensor present: the detector's score sets the status")

	d = diagnose(true)
	assert.Equal(t, diag.Unknown, d.Status)
	for _, c := range d.Components {
		assert.Equal(t, diag.Unknown, c.Status, c.ID)
	}
	require.Len(t, d.Anomalies, 1, "%+v", d.Anomalies)
	assert.Equal(t, rig.FaultSensor, d.Anomalies[0].Fault)
	assert.Equal(t, []string{drop}, d.Anomalies[0].Sensors)
	require.Len(t, d.Recommendations, 1)
	assert.Contains(t, d.Recommendations[0].Reason, "anomaly scores not judged: the model was not trained to judge without "+drop)
}
