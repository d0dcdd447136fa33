package diag_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// SuspectedFault tells a NameAnomaly-named anomaly-head finding (a fault
// with RuleConfidence times the anomaly head's confidence on a component
// scored at least 1) from a class head's fault and from an unexplained
// anomaly.
func TestSuspectedFault(t *testing.T) {
	const score = 2.5
	d := &diag.Diagnosis{Components: []diag.ComponentHealth{{ID: "pump", AnomalyScore: score}, {ID: "valve", AnomalyScore: 0.4}}}
	named := (1 - 1/score) * diag.RuleConfidence
	for _, c := range []struct {
		a    diag.Anomaly
		want bool
	}{
		{diag.Anomaly{Fault: "cavitation", Confidence: named, Components: []string{"pump"}}, true},
		{diag.Anomaly{Fault: "vibration", Confidence: named, Components: []string{"pump"}}, true},
		// A class head's fault: its class probability.
		{diag.Anomaly{Fault: "leakage", Confidence: 0.45, Components: []string{"pump"}}, false},
		// Unexplained: no fault to suspect.
		{diag.Anomaly{Confidence: 1 - 1/score, Components: []string{"pump"}}, false},
		// A component below the threshold, or not in the diagnosis.
		{diag.Anomaly{Fault: "stiction", Confidence: named, Components: []string{"valve"}}, false},
		{diag.Anomaly{Fault: "stiction", Confidence: named, Components: []string{"motor"}}, false},
		{diag.Anomaly{Fault: "stiction", Confidence: named, Sensors: []string{"P1"}}, false},
	} {
		assert.Equal(t, c.want, diag.SuspectedFault(d, &c.a), "%+v", c.a)
	}
}

// NamedConfidence is what SuspectedFault recognises, and its value is
// pinned for agents that predate it, which wrote (1 - 1/score) * 0.5:
// the cloud must still read their named findings as suspected.
func TestNamedConfidence(t *testing.T) {
	assert.InDelta(t, 0.3, diag.NamedConfidence(2.5), 1e-15)
	assert.InDelta(t, 0.375, diag.NamedConfidence(4), 1e-15)
	assert.Zero(t, diag.NamedConfidence(1))
	assert.InDelta(t, 0.6, diag.AnomalyConfidence(2.5), 1e-15)
	for _, score := range []float64{1, 1.05, 1.6, 2.5, 3, 7.3, 41} {
		d := &diag.Diagnosis{Components: []diag.ComponentHealth{{ID: "pump", AnomalyScore: score}}}
		named := diag.Anomaly{Fault: "overheating", Confidence: diag.NamedConfidence(score), Components: []string{"pump"}}
		assert.True(t, diag.SuspectedFault(d, &named), "score %g: NamedConfidence", score)
		old := diag.Anomaly{Fault: "overheating", Confidence: (1 - 1/score) * 0.5, Components: []string{"pump"}}
		assert.True(t, diag.SuspectedFault(d, &old), "score %g: an older agent's named finding", score)
		head := diag.Anomaly{Fault: "overheating", Confidence: diag.AnomalyConfidence(score), Components: []string{"pump"}}
		assert.Equal(t, score == 1, diag.SuspectedFault(d, &head), "score %g: the anomaly head's own confidence", score)
	}
}
