package cloudapi

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// A rig-wide finding (a class head of a target on no component, as the
// ZeMA rig's "stable" flag: fault unstable) names no component, and
// neither does its recommendation; agent/infer makes both. The contract
// takes them: before, the recommendation's empty component made the
// forwarder drop every such diagnosis as invalid, so none of the windows
// the rig was judged not yet stable in reached the cloud
// (tests/TestCloudEndToEnd found it).
func TestRigWideRecommendation(t *testing.T) {
	d := sampleDiagnosis(9)
	d.Anomalies = append(d.Anomalies, diag.Anomaly{Fault: rig.FaultUnstable, Severity: diag.SeverityInfo, Confidence: 0.9,
		Components: []string{}})
	d.Recommendations = append(d.Recommendations, diag.Recommendation{Fault: rig.FaultUnstable, Priority: diag.SeverityInfo,
		Action: "No action: the rig had not reached steady state; judge the next windows."})
	assert.Empty(t, ValidateDiagnosis("", &d))
	b, err := DecodeDiagnosisBatch(batchBody(t, "rig-001", d), Limits{})
	require.NoError(t, err)
	require.Nil(t, b.Items[0].Problem)
	assert.Equal(t, d, b.Items[0].Diagnosis)

	// A component, when named, is still checked.
	d.Recommendations[len(d.Recommendations)-1].Component = strings.Repeat("c", MaxNameLen+1)
	assert.NotEmpty(t, ValidateDiagnosis("", &d))
}
