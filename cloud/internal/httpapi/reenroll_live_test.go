package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Re-enrolling a rig's own agent while its old identity still checks in
// is refused (409) as often as the operator tries, without spending the
// token or the address's failed-authentication budget: the token was
// made for this rig and names its own agent, so the refusal tells its
// holder nothing (review r5 finding 1). Once the old identity is
// revoked, the same token enrolls.
func TestReenrollLiveKeepsToken(t *testing.T) {
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: store.MaxEnrollRefusals})
	a := e.tenant("alpha")
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)

	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/"+a.rig+"/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &en)
	for range store.MaxEnrollRefusals + 1 {
		r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: a.agent, RigID: a.rig})
		require.Equal(t, 409, r.code, "%s", r.body)
		assert.Contains(t, string(r.body), "--replace")
		assert.NotContains(t, string(r.body), "now revoked")
	}
	assert.Zero(t, e.count(`SELECT refusals FROM enrollment_tokens WHERE id = $1`, en.ID), "same-rig refusals are not counted")
	// The address's budget is untouched: a bad credential is 401, not 429.
	assert.Equal(t, 401, e.do("GET", "/v1/rigs", "rgt_bogus", nil).code)

	// The operator revokes the old identity as the 409 says: the same
	// token enrolls.
	r = e.do("POST", fmt.Sprintf("/v1/agents/%s/revoke", a.agent), a.operator, nil)
	require.Less(t, r.code, 300, "%s", r.body)
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: a.agent, RigID: a.rig})
	require.Equal(t, 200, r.code, "%s", r.body)
}
