package rigctl

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// The status shows the agents that do not read the release's bundle
// format: a line saying so, a column per cohort, and each one's reason.
func TestPrintRolloutIncompatible(t *testing.T) {
	counts := map[rolloutapi.AgentState]int{rolloutapi.AgentCommitted: 1, rolloutapi.AgentIncompatible: 2}
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	r := rolloutapi.Rollout{ID: 3, State: rolloutapi.Completed,
		Release: rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 2},
		RigType: "zema-testrig", Agents: 3, Counts: counts,
		Cohorts: []rolloutapi.Cohort{{Index: 0, Size: 3, SoakS: 60, State: rolloutapi.CohortSucceeded, StartedAt: &at, Counts: counts}},
		AgentStates: []rolloutapi.Member{{AgentID: "rig-002", RigID: "zema-2", State: rolloutapi.AgentIncompatible,
			Detail: "agent reads bundle formats 1..1, release is format 2", UpdatedAt: at}}}
	var b bytes.Buffer
	printRollout(&b, &r)
	out := b.String()
	assert.Regexp(t, `(?m)^release:\s+zema-testrig/zema-testrig-1.1.0.tar.gz \(1.1.0, bundle format 2\)$`, out)
	assert.Regexp(t, `(?m)^incompatible: 2 agents do not read bundle format 2 or the release does not fit them \(see DETAIL\): not counted in the thresholds$`, out)
	assert.Regexp(t, `(?m)^0\s+3\s+1m0s\s+succeeded\s+20\S+\s+0\s+0\s+0\s+1\s+0\s+0\s+2$`, out)
	assert.Regexp(t, `(?m)^rig-002\s+zema-2\s+0\s+incompatible\s+-\s+20\S+\s+-\s+agent reads bundle formats 1..1, release is format 2$`, out)
}
