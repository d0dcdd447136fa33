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
