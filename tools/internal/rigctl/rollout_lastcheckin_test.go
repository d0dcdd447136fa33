package rigctl

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// rollout status shows each agent's last check-in, "-" for one that never
// checked in: an agent stuck in a state whose check-ins stopped is down.
func TestPrintRolloutLastCheckin(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := at.Add(-40 * time.Second)
	r := rolloutapi.Rollout{ID: 3, State: rolloutapi.Running,
		Release: rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 2},
		RigType: "zema-testrig", Agents: 2,
		Cohorts: []rolloutapi.Cohort{{Index: 0, Size: 2, SoakS: 60, State: rolloutapi.CohortSoaking, StartedAt: &at}},
		AgentStates: []rolloutapi.Member{
			{AgentID: "rig-001", RigID: "zema-1", State: rolloutapi.AgentOffered, UpdatedAt: at, LastCheckinAt: &seen},
			{AgentID: "rig-002", RigID: "zema-2", State: rolloutapi.AgentOffered, UpdatedAt: at},
		}}
	var b bytes.Buffer
	printRollout(&b, &r)
	out := b.String()
	assert.Regexp(t, `(?m)^AGENT\s+RIG\s+COHORT\s+STATE\s+COMMITTED\s+UPDATED\s+LAST CHECK-IN\s+DETAIL$`, out)
	assert.Regexp(t, `(?m)^rig-001\s+zema-1\s+0\s+offered\s+-\s+2025-03-01T12:00:00Z\s+2025-03-01T11:59:20Z\s+-$`, out)
	assert.Regexp(t, `(?m)^rig-002\s+zema-2\s+0\s+offered\s+-\s+2025-03-01T12:00:00Z\s+-\s+-$`, out)
}
