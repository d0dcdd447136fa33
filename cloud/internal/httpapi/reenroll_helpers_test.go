package httpapi_test

import (
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/stretchr/testify/require"
)

// reenroll enrolls agent on tn's rig over its live identity, as an
// operator does with `rigctl rigs enroll RIG --replace AGENT`: the
// enrollment token names the agent it replaces, so the cloud does not
// refuse it for having checked in lately.
func (e *env) reenroll(tn *tenant, agent string) string {
	e.t.Helper()
	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/"+tn.rig+"/enrollments", tn.operator, fleetapi.EnrollmentRequest{Replace: agent})
	require.Equal(e.t, 201, r.code, "%s", r.body)
	r.decode(e.t, &en)
	var out cloudapi.EnrollResponse
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: agent, RigID: tn.rig})
	require.Equal(e.t, 200, r.code, "%s", r.body)
	r.decode(e.t, &out)
	require.Equal(e.t, agent, out.AgentID)
	return out.Credential
}
