package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// An agent the release does not fit (other hardware, firmware config, an
// older rig-agent than min_agent_version; the rollout selects by rig type
// only) reported its refusal as failed, halting the rollout at the first
// such agent of a mixed fleet. It now reports incompatible: left out of
// the thresholds like an agent that does not read the bundle format,
// still offered the release (it may fit after an upgrade), and the
// rollout completes on the agents it fits.
func TestRolloutUnfitAgentDoesNotHalt(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	rel := e.publish(tr, e.releaseToken(), testBundle(t, "1.1.0"))
	fits, unfit := e.skabAgent(acme, "skab-amd64", "agent-fits"), e.skabAgent(acme, "skab-jetson", "agent-unfit")
	reads12 := &cloudapi.BundleFormats{Min: 1, Max: 2}
	for _, m := range []member{fits, unfit} {
		e.checkinFormats(m, "1.0.0", nil, reads12)
	}
	ro := e.skabRollout(acme, rel)
	for _, m := range []member{fits, unfit} {
		require.NotNil(t, e.checkinFormats(m, "1.0.0", nil, reads12), m.agent)
	}
	why := "offered release refused (offered release does not fit this rig): " + rel +
		" (version 1.1.0, rollout 1): hardware [jetson-orin] does not include this machine's [arm64]"
	refused := &cloudapi.UpdateStatus{State: "incompatible", Installed: "1.0.0", Target: rel, TargetVersion: "1.1.0",
		Rollout: ro.ID, LastError: why, Changed: time.Now().UTC()}
	for range 2 { // every check-in while it is offered says so again
		o := e.checkinFormats(unfit, "1.0.0", refused, reads12)
		require.NotNil(t, o, "still offered")
		assert.Equal(t, rel, o.Target)
		assert.Empty(t, events(tick(t, e.st, time.Now())), "no halt")
		ro = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, rolloutapi.Running, ro.State)
		got := memberState(ro, "agent-unfit")
		assert.Equal(t, rolloutapi.AgentIncompatible, got.State)
		assert.Equal(t, why, got.Detail)
		assert.Equal(t, 0, ro.Counts[rolloutapi.AgentFailed])
	}
	e.checkinFormats(fits, "1.1.0", nil, reads12)
	assert.Equal(t, []string{"1:completed:0"}, events(tick(t, e.st, time.Now().Add(2*time.Minute))))
	ro = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.Completed, ro.State)
	assert.Contains(t, ro.Reason, "1 of 1 compatible agents")
	assert.Equal(t, 1, ro.Counts[rolloutapi.AgentIncompatible])
}
