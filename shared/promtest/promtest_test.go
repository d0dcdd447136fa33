package promtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFamilies(t *testing.T) {
	body := `# HELP a_total A.
# TYPE a_total counter
a_total 1
# TYPE b_seconds histogram
b_seconds_bucket{le="+Inf"} 1
b_seconds_sum 0.1
b_seconds_count 1
# TYPE c summary
c_sum 1
c_count 1
# TYPE d gauge
`
	assert.Equal(t, map[string]bool{
		"a_total": true, "b_seconds": true, "b_seconds_bucket": true, "b_seconds_sum": true,
		"b_seconds_count": true, "c": true, "c_sum": true, "c_count": true, "d": true,
	}, Families(body))
	assert.Empty(t, Families("a_total 1\n# HELP a_total A.\n"))
}

func TestRuleMetrics(t *testing.T) {
	text := `expr: rate(rig_agent_ingest_readings_total[5m]) > instance:rig_agent_x:rate5m
expr: sum(rig_agent_ingest_readings_total) + rig_agent_buffer_depth + rig_cloud_other`
	assert.Equal(t, []string{"rig_agent_ingest_readings_total", "rig_agent_buffer_depth"}, RuleMetrics(text, "rig_agent_"))
	assert.Equal(t, []string{"rig_cloud_other"}, RuleMetrics(text, "rig_cloud_"))
	assert.Nil(t, RuleMetrics("level:rig_agent_y:sum", "rig_agent_"))
}
