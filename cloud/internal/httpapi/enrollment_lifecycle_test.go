package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// An enrollment token dies with the operator token that made it, is
// listed and revoked per rig, expires no later than its maker; and
// enrolling under the name of an agent that checks in is refused unless
// an operator made the token to replace it (review r2 F3: a leaked
// token of a revoked operator took over the rig's live agent).
func TestEnrollmentTokenLifecycle(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	ctx := context.Background()
	enrollments := "/v1/rigs/" + a.rig + "/enrollments"
	mk := func(tok string, body any) store.Enrollment {
		t.Helper()
		var en store.Enrollment
		r := e.do("POST", enrollments, tok, body)
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &en)
		require.NotZero(t, en.ID)
		return en
	}
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)

	// The operator's token is revoked: its unused enrollment tokens too.
	opExp := time.Now().Add(time.Hour)
	op, opSecret, err := e.st.CreateToken(ctx, a.orgID, "temp-op", store.RoleOperator, opExp)
	require.NoError(t, err)
	leaked := mk(opSecret, nil)
	assert.False(t, leaked.ExpiresAt.After(opExp), "no later than its maker: %s vs %s", leaked.ExpiresAt, opExp)
	used := mk(opSecret, nil)
	r := e.do("POST", "/v1/agent/enroll", used.Token, cloudapi.EnrollRequest{AgentID: "agent-new"})
	require.Equal(t, 200, r.code, "%s", r.body)
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", op.ID), a.admin, nil).code)
	r = e.do("POST", "/v1/agent/enroll", leaked.Token, cloudapi.EnrollRequest{AgentID: "agent-x"})
	require.Equal(t, 401, r.code, "an enrollment token of a revoked operator: %s", r.body)

	// Listed per rig, with their states; revoked one by one or all at once.
	one, two, three := mk(a.operator, nil), mk(a.operator, nil), mk(a.operator, nil)
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("%s/%d", enrollments, one.ID), a.operator, nil).code)
	require.Equal(t, 401, e.do("POST", "/v1/agent/enroll", one.Token, cloudapi.EnrollRequest{AgentID: "agent-y"}).code)
	r = e.do("DELETE", enrollments, a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	var rv fleetapi.EnrollmentsRevoked
	r.decode(t, &rv)
	assert.Equal(t, 2, rv.Revoked)
	for _, en := range []store.Enrollment{two, three} {
		require.Equal(t, 401, e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "agent-y"}).code)
	}
	r = e.do("GET", enrollments, a.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.NotContains(t, string(r.body), "rge_", "never a secret")
	var pg fleetapi.Page[fleetapi.EnrollmentToken]
	r.decode(t, &pg)
	states := map[int64]fleetapi.EnrollmentToken{}
	for _, en := range pg.Items {
		states[en.ID] = en
	}
	assert.Equal(t, "revoked", states[leaked.ID].State)
	assert.Equal(t, "used", states[used.ID].State)
	assert.Equal(t, "agent-new", states[used.ID].AgentID)
	assert.Equal(t, op.ID, *states[used.ID].CreatedBy)
	assert.Equal(t, "revoked", states[three.ID].State)
	assert.Equal(t, 403, e.do("GET", enrollments, a.viewer, nil).code)
	b := e.tenant("beta")
	assert.Equal(t, 404, e.do("GET", enrollments, b.operator, nil).code)
	assert.Equal(t, 404, e.do("DELETE", fmt.Sprintf("%s/%d", enrollments, two.ID), b.operator, nil).code)
	assert.Equal(t, 404, e.do("DELETE", fmt.Sprintf("/v1/rigs/%s/enrollments/%d", b.rig, two.ID), b.operator, nil).code)

	// Enrolling over the live agent: refused, and it keeps working.
	plain := mk(a.operator, nil)
	r = e.do("POST", "/v1/agent/enroll", plain.Token, cloudapi.EnrollRequest{AgentID: a.agent})
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, string(r.body), "--replace")
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code, "the live agent is not displaced")
	// An operator's token made to replace it does.
	repl := mk(a.operator, fleetapi.EnrollmentRequest{Replace: a.agent})
	assert.Equal(t, a.agent, repl.Replace)
	var out cloudapi.EnrollResponse
	r = e.do("POST", "/v1/agent/enroll", repl.Token, cloudapi.EnrollRequest{AgentID: a.agent})
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &out)
	require.Equal(t, 401, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, out.Credential, cin).code)
	// An identity that has not checked in lately (a reinstalled rig
	// computer) is still replaced by a plain token.
	_, err = e.st.Pool().Exec(ctx, `UPDATE agents SET last_checkin_at = now() - interval '1 hour' WHERE name = $1 AND replaced_at IS NULL`, a.agent)
	require.NoError(t, err)
	r = e.do("POST", "/v1/agent/enroll", plain.Token, cloudapi.EnrollRequest{AgentID: a.agent})
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.Equal(t, 400, e.do("POST", enrollments, a.operator, fleetapi.EnrollmentRequest{Replace: "bad name!"}).code)
}
