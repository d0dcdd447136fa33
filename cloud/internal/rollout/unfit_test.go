package rollout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// An agent that refuses the offered release as not for it reports update
// state incompatible: that is incompatible, not failed (a failure would
// halt the rollout at the first agent of another hardware), with its
// reason; the same for the previous release of a rolled back rollout (an
// agent that does not keep it refuses the downgrade).
func TestObserveIncompatible(t *testing.T) {
	rel := rolloutapi.Release{Target: "skab-testbed/skab-testbed-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 1}
	prev := rolloutapi.Release{Target: "skab-testbed/skab-testbed-1.0.0.tar.gz", Version: "1.0.0", BundleFormat: 1}
	why := "offered release refused (offered release does not fit this rig): ... hardware [jetson-orin] does not include this machine's [amd64]"
	req := &cloudapi.CheckinRequest{Update: &cloudapi.UpdateStatus{State: "incompatible", Installed: "1.0.0",
		Target: rel.Target, TargetVersion: "1.1.0", Rollout: 5, LastError: why}}
	assert.Equal(t, Observed{State: rolloutapi.AgentIncompatible, Detail: why}, Observe(rolloutapi.AgentOffered, 5, rel, nil, req))
	assert.True(t, ReportsIncompatible(req, 5, rel))
	assert.False(t, ReportsIncompatible(req, 6, rel), "another rollout's report")
	d := Decide([]CohortStatus{{Index: 0, Size: 10, Incompatible: 1, State: rolloutapi.CohortSoaking}}, false, 0.9, 0.1, time.Now())
	assert.False(t, d.Halt, "%+v", d)

	down := "offered release refused (offered release does not fit this rig): ... is not this agent's kept previous bundle"
	req = &cloudapi.CheckinRequest{Update: &cloudapi.UpdateStatus{State: "incompatible", Installed: "1.1.0",
		Target: prev.Target, TargetVersion: "1.0.0", Rollout: 5, LastError: down}}
	assert.Equal(t, Observed{State: rolloutapi.AgentIncompatible, Detail: down}, Observe(rolloutapi.AgentCommitted, 5, rel, &prev, req))
}
