package infer

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// TestDiagnoseHealthFromTrainedSignalsOnly: a component's health and
// status come from the class heads of the condition targets on it, never
// from the health head, which training fits only on those components
// (models/train healthLabels). Before, the health head's raw output gave
// every component its status, so the shipped ZeMA bundle called 1,710 of
// 1,723 real UCI cycles critical and none healthy (review r1, finding 1):
// untrained outputs on the tank or filter, and an accumulator head that
// disagreed with its own class head, decided the rig's status.
func TestDiagnoseHealthFromTrainedSignalsOnly(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := diagModel(t, si, bundleOpts{})
	w := si.window(t, 1, nil, nil)
	// The health head as the shipped bundle gives it on an optimal cycle:
	// low on the accumulator and on components without a target.
	head := map[string]float64{"accumulator_a1": 0.06, "valve_v11": 0.15, "tank": 0.2, "filter_f1": 0.3}
	r := &Result{Targets: targets(si.cfg, nil), Sensors: scores(si, nil, nil)}
	for _, c := range si.cfg.Components {
		h, ok := head[c.ID]
		if !ok {
			h = 0.9
		}
		r.Health = append(r.Health, h)
	}
	d, err := m.Diagnose(r, w, 0)
	require.NoError(t, err)
	assert.Equal(t, diag.Healthy, d.Status, "every class head says optimal")
	assert.Equal(t, 1.0, d.Health)
	assert.False(t, cloudapi.IsAlert(d), "a healthy rig raises no alert")
	byID := map[string]diag.ComponentHealth{}
	for _, c := range d.Components {
		byID[c.ID] = c
	}
	for _, id := range []string{"cooler_c1", "valve_v10", "pump_mp1", "accumulator_a1"} {
		assert.Equal(t, diag.Healthy, byID[id].Status, id)
		assert.Equal(t, 1.0, byID[id].Health, id)
	}
	for _, id := range []string{"tank", "motor_m1", "valve_v11", "pump_mp2", "filter_f1"} {
		assert.Equal(t, diag.Unknown, byID[id].Status, "%s: no condition target, nothing trained judges it", id)
		assert.Zero(t, byID[id].Health, id)
	}

	// A faulty class: the component with the target is judged by it, the
	// rig takes the worst judged status.
	r.Targets = targets(si.cfg, map[string][2]float64{"accumulator": {100, 0.97}, "valve": {90, 0.998}})
	d, err = m.Diagnose(r, w, 0)
	require.NoError(t, err)
	for _, c := range d.Components {
		byID[c.ID] = c
	}
	assert.Equal(t, diag.Critical, byID["accumulator_a1"].Status, "severely reduced pre-charge (class health 0.4)")
	assert.Equal(t, diag.Healthy, byID["valve_v10"].Status,
		"small lag (class health 0.7, at the healthy band's edge) with p 0.998 stays healthy although Σ p·h < 0.7")
	assert.Less(t, byID["valve_v10"].Health, diag.HealthyAt)
	assert.Equal(t, diag.Critical, d.Status)
	assert.InDelta(t, byID["accumulator_a1"].Health, d.Health, 1e-12)
}
