package export_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/train"
)

// TestMetricsHealth: the manifest metrics carry each condition target's
// health results next to its accuracy (review r1 finding 1).
func TestMetricsHealth(t *testing.T) {
	res := &train.Result{Val: &train.Metrics{N: 10,
		Targets: []train.TargetMetrics{{Name: "accumulator", N: 10, Accuracy: 0.998, MacroF1: 0.997}},
		Health: []train.HealthMetrics{{Target: "accumulator", Component: "accumulator_a1", N: 10,
			HealthMAE: 0.0041234567, StatusAgreement: 1, HeadHealthMAE: 0.2332, HeadStatusAgreement: 0.5218}},
	}}
	m := export.Metrics(res)
	assert.Equal(t, 0.998, m["accumulator.accuracy"], "kept")
	assert.InDelta(t, 0.004123, m["accumulator.health_mae"], 1e-9)
	assert.Equal(t, 1.0, m["accumulator.status_agreement"])
	assert.InDelta(t, 0.2332, m["accumulator.head_health_mae"], 1e-9)
	assert.InDelta(t, 0.5218, m["accumulator.head_status_agreement"], 1e-9)
}
