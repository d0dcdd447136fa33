package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// An agent that refuses the rollback of a rolled back rollout during its
// post-commit watch (the previous release is not its kept previous
// bundle) reports it as rig-agent does since the fix: state incompatible
// about the previous release and the rollout, installed the release it
// keeps serving, watch_until set. The rollout's status (rigctl rollout
// status) shows the agent incompatible with why, not committed on the
// release being rolled back.
func TestRolledBackRolloutShowsRefusedRollback(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	e.checkin(m, "1.0.0", upd("idle", "1.0.0", "", ""))
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel110, Previous: rel100,
		Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}, SoakS: 60})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	require.NotNil(t, e.checkin(m, "1.0.0", upd("idle", "1.0.0", "", "")), "1.1.0 offered")
	watch := time.Now().Add(time.Hour).UTC()
	committed := upd("committed", "1.1.0", "", "")
	committed.Rollout, committed.Previous, committed.WatchUntil = ro.ID, "1.0.0", &watch
	e.checkin(m, "1.1.0", committed)
	require.Equal(t, rolloutapi.AgentCommitted, memberState(e.rollout(acme.viewer, ro.ID), m.agent).State)

	got := e.act(acme.operator, ro.ID, store.ActionRollback, 200)
	require.Equal(t, rolloutapi.RolledBack, got.State)
	why := "offered release refused (offered release does not fit this rig): " + rel100 +
		" (version 1.0.0, rollout 1): version 1.0.0 is older than the installed 1.1.0 and is not this agent's kept previous bundle"
	refused := upd("incompatible", "1.1.0", rel100, why)
	refused.TargetVersion, refused.Rollout, refused.Previous, refused.WatchUntil = "1.0.0", ro.ID, "1.0.0", &watch
	o := e.checkin(m, "1.1.0", refused)
	require.NotNil(t, o)
	assert.Equal(t, cloudapi.Offer{Target: rel100, Version: "1.0.0", Rollout: ro.ID}, *o)
	st := memberState(e.rollout(acme.viewer, ro.ID), m.agent)
	assert.Equal(t, rolloutapi.AgentIncompatible, st.State, "the refused rollback is shown")
	assert.Equal(t, why, st.Detail)
}
