package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// An enrollment refused because the agent id is another rig's names no
// rig, and the token is revoked at the third such refusal: one token
// cannot map the organisation's agents and rigs (review r2 F7).
func TestEnrollmentRefusalsRevealNothing(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	r := e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "secret-rig-7", RigType: a.rigType})
	require.Equal(t, 201, r.code, "%s", r.body)
	var en store.Enrollment
	r = e.do("POST", "/v1/rigs/secret-rig-7/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code)
	r.decode(t, &en)
	for i := range store.MaxEnrollRefusals {
		r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: a.agent})
		require.Equal(t, 409, r.code, "%s", r.body)
		assert.NotContains(t, string(r.body), a.rig, "names the other rig")
		assert.Contains(t, string(r.body), "in use in this organisation")
		if i == store.MaxEnrollRefusals-1 {
			assert.Contains(t, string(r.body), "now revoked")
		}
	}
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "nobody"})
	require.Equal(t, 401, r.code, "spent by its refusals: %s", r.body)
	// A refusal below the limit leaves the token usable.
	r = e.do("POST", "/v1/rigs/secret-rig-7/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code)
	r.decode(t, &en)
	require.Equal(t, 409, e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: a.agent}).code)
	require.Equal(t, 200, e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "nobody"}).code)
}
