package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// route is one route with a valid request for tenant a.
type route struct {
	method, path string
	body         any
	// min is the least role that may call it ("" : agent route).
	min store.Role
	// object: the path names an object of the organisation (another
	// organisation's token gets 404).
	object bool
}

func routesFor(a *tenant) []route {
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	return []route{
		{"GET", "/v1/rigs", nil, store.RoleViewer, false},
		{"GET", "/v1/sites", nil, store.RoleViewer, false},
		{"GET", "/v1/agents", nil, store.RoleViewer, false},
		{"GET", "/v1/alerts", nil, store.RoleViewer, false},
		{"GET", "/v1/rigs/" + a.rig, nil, store.RoleViewer, true},
		{"PATCH", "/v1/rigs/" + a.rig, fleetapi.RigEdit{FirmwareDigest: new(string)}, store.RoleOperator, true},
		{"GET", "/v1/rigs/" + a.rig + "/status", nil, store.RoleViewer, true},
		{"GET", "/v1/rigs/" + a.rig + "/diagnoses", nil, store.RoleViewer, true},
		{"GET", "/v1/rigs/" + a.rig + "/components/pump/health", nil, store.RoleViewer, true},
		{"POST", "/v1/sites", fleetapi.SiteRequest{Name: "s-" + fmt.Sprint(time.Now().UnixNano())}, store.RoleOperator, false},
		{"POST", "/v1/rigs", fleetapi.RigRequest{RigID: "r-" + fmt.Sprint(time.Now().UnixNano()), RigType: "x"}, store.RoleOperator, false},
		{"POST", "/v1/rigs/" + a.rig + "/enrollments", nil, store.RoleOperator, true},
		{"POST", "/v1/agents/" + a.agent + "/revoke", nil, store.RoleOperator, true},
		{"POST", "/v1/alerts/1/ack", nil, store.RoleOperator, true},
		{"POST", "/v1/alerts/1/resolve", nil, store.RoleOperator, true},
		{"GET", fmt.Sprintf("/v1/orgs/%d", a.orgID), nil, store.RoleViewer, true},
		{"POST", fmt.Sprintf("/v1/orgs/%d/tokens", a.orgID), fleetapi.TokenRequest{Name: "x", Role: string(store.RoleViewer)}, store.RoleAdmin, true},
		{"DELETE", "/v1/tokens/1", nil, store.RoleAdmin, true},
		{"GET", "/v1/uploads", nil, store.RoleViewer, false},
		{"POST", "/v1/uploads", fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)}, store.RoleOperator, true},
		{"POST", "/v1/uploads/up-1/cancel", nil, store.RoleOperator, true},
		{"POST", "/v1/datasets/from-uploads", fleetapi.FleetDatasetRequest{Name: "f", RigConfig: fleetRigYAML, RigIDs: []string{a.rig},
			From: t0, To: t0.Add(time.Hour)}, store.RoleOperator, true},
		{"GET", "/v1/rig-types", nil, store.RoleViewer, false},
		{"GET", "/v1/rig-types/" + a.rigType, nil, store.RoleViewer, true},
		{"POST", "/v1/rig-types", fleetapi.RigTypeRequest{Config: fleetRigYAML}, store.RoleOperator, false},
		{"POST", "/v1/rig-types/validate", fleetapi.RigTypeRequest{Config: fleetRigYAML}, store.RoleViewer, false},
		{"DELETE", "/v1/rig-types/" + a.rigType + "?version=1", nil, store.RoleAdmin, true},
		{"POST", cloudapi.PathCheckin, cin, "", false},
		{"POST", cloudapi.PathDiagnoses, a.batch(a.diagnosis(1, 0, 0.9)), "", false},
		{"POST", cloudapi.PathUploads, cloudapi.Upload{AgentID: a.agent, RequestID: "r1", Part: 0, Last: true}, "", false},
	}
}

// Every route refuses: no token, a malformed or unknown one, a revoked
// token, a token of another organisation (404 on objects), a role too
// low, an agent credential on a fleet route, a token on an agent route,
// an agent writing for another agent. Every refusal is a problem document.
// With and without the authentication cache (the revoked credentials were
// used, so cached, before their revocation).
func TestAuthTable(t *testing.T) {
	t.Parallel()
	t.Run("no cache", func(t *testing.T) {
		t.Parallel()
		testAuthTable(t, newEnv(t, httpapi.Options{}))
	})
	t.Run("cache", func(t *testing.T) {
		t.Parallel()
		e, _ := newCachedEnv(t, authcache.Options{TTL: time.Hour})
		testAuthTable(t, e)
	})
}

func testAuthTable(t *testing.T, e *env) {
	a, b := e.tenant("alpha"), e.tenant("beta")
	ctx := context.Background()

	// A revoked admin token of a, used before.
	revoked, sec, err := e.st.CreateToken(ctx, a.orgID, "gone", store.RoleAdmin, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 200, e.do("GET", "/v1/rigs", sec, nil).code)
	r := e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", revoked.ID), a.admin, nil)
	require.Equal(t, 204, r.code, "%s", r.body)
	// An expired one.
	_, expired, err := e.st.CreateToken(ctx, a.orgID, "old", store.RoleAdmin, time.Now().Add(-time.Second))
	require.NoError(t, err)
	// A revoked agent of a, used before.
	revokedAgent := e.enroll(a, "agent-alpha-2")
	cin := cloudapi.CheckinRequest{AgentID: "agent-alpha-2", RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, revokedAgent, cin).code)
	require.Equal(t, 204, e.do("POST", "/v1/agents/agent-alpha-2/revoke", a.operator, nil).code)

	// a's rig type is registered: GET /v1/rig-types/{name} names an object.
	e.registerRigType(a)

	roles := map[store.Role]string{store.RoleViewer: a.viewer, store.RoleOperator: a.operator, store.RoleAdmin: a.admin}
	for _, rt := range routesFor(a) {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			check := func(name, tok string, want int, typ string, hdr ...string) {
				t.Helper()
				r := e.do(rt.method, rt.path, tok, rt.body)
				require.Equal(t, want, r.code, "%s: %s", name, r.body)
				p := r.problem(t)
				assert.Equal(t, typ, p.Type, name)
			}
			check("no token", "", 401, cloudapi.ProblemUnauthorized)
			check("garbage token", "hunter2", 401, cloudapi.ProblemUnauthorized)
			check("unknown token", "rgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, cloudapi.ProblemUnauthorized)
			check("revoked token", sec, 401, cloudapi.ProblemUnauthorized)
			check("expired token", expired, 401, cloudapi.ProblemUnauthorized)
			check("revoked agent", revokedAgent, 401, cloudapi.ProblemUnauthorized)
			if rt.min == "" {
				// Agent route: tokens are refused, other agents too.
				check("admin token", a.admin, 403, cloudapi.ProblemForbidden)
				check("system token", e.system, 403, cloudapi.ProblemForbidden)
				check("another agent's credential", b.cred, 403, cloudapi.ProblemForbidden)
				return
			}
			check("agent credential", a.cred, 403, cloudapi.ProblemForbidden)
			if rt.object {
				check("other org's admin", b.admin, 404, cloudapi.ProblemNotFound)
			}
			for role, tok := range roles {
				if role.Rank() < rt.min.Rank() {
					check(string(role)+" below "+string(rt.min), tok, 403, cloudapi.ProblemForbidden)
				}
			}
			if rt.min != store.RoleAdmin && rt.path != fmt.Sprintf("/v1/orgs/%d", a.orgID) {
				check("system token", e.system, 403, cloudapi.ProblemForbidden)
			}
		})
	}

	// Nothing of a leaked into b, nor the other way.
	r = e.do("GET", "/v1/rigs", b.viewer, nil)
	require.Equal(t, 200, r.code)
	assert.NotContains(t, string(r.body), a.rig)
	r = e.do("GET", "/v1/orgs", b.viewer, nil)
	require.Equal(t, 200, r.code)
	assert.NotContains(t, string(r.body), "alpha")
	// The system token sees both organisations.
	r = e.do("GET", "/v1/orgs", e.system, nil)
	require.Equal(t, 200, r.code)
	assert.Contains(t, string(r.body), "alpha")
	assert.Contains(t, string(r.body), "beta")
	// Only the system token creates organisations.
	r = e.do("POST", "/v1/orgs", a.admin, fleetapi.OrgRequest{Slug: "gamma", Name: "G"})
	assert.Equal(t, 403, r.code)
	r.problem(t)
	// 401 says how to authenticate.
	r = e.do("GET", "/v1/rigs", "", nil)
	assert.Equal(t, `Bearer realm="rig-cloud"`, r.header.Get("WWW-Authenticate"))
}

// An agent's batch for another agent id, and diagnoses of another rig in
// its own batch: refused, nothing written.
func TestAgentWritesOnlyItsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")

	r := e.do("POST", cloudapi.PathDiagnoses, a.cred, b.batch(b.diagnosis(1, 0, 0.9)))
	require.Equal(t, 403, r.code)
	assert.Contains(t, r.problem(t).Detail, `the body is for agent "agent-beta"`)

	// Its own batch naming b's rig: the item is rejected.
	d := b.diagnosis(1, 0, 0.9)
	d.AgentID = a.agent
	var br cloudapi.BatchResponse
	r = e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(d))
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &br)
	require.Equal(t, 1, br.Rejected)
	assert.Contains(t, br.Results[0].Problem.Errors[0].Detail, `"press-beta" is not this agent's rig "press-alpha"`)
	assert.Zero(t, e.count("SELECT count(*) FROM diagnoses"))

	// Check-in for another rig.
	r = e.do("POST", cloudapi.PathCheckin, a.cred, cloudapi.CheckinRequest{AgentID: a.agent, RigID: b.rig, RigType: "x", Time: time.Now()})
	require.Equal(t, 403, r.code)
	r.problem(t)
}

func TestEnrollment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/"+a.rig+"/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code)
	r.decode(t, &en)

	// The wrong rig: refused, and the token stays unused.
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "new-1", RigID: "other"})
	require.Equal(t, 403, r.code, "%s", r.body)
	r.problem(t)
	// A bad agent id: 400, the token stays unused.
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "-bad"})
	require.Equal(t, 400, r.code, "%s", r.body)
	assert.Equal(t, "/agent_id", r.problem(t).Errors[0].Pointer)
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "new-1"})
	require.Equal(t, 200, r.code, "%s", r.body)
	var out cloudapi.EnrollResponse
	r.decode(t, &out)
	assert.Equal(t, a.rig, out.RigID)
	// Once only.
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "new-2"})
	require.Equal(t, 401, r.code)
	r.problem(t)
	// The credential works; after revocation it does not, and the agent may
	// be enrolled again with a new one (TestReenrollmentKeepsNewDiagnoses).
	cin := cloudapi.CheckinRequest{AgentID: "new-1", RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, out.Credential, cin).code)
	require.Equal(t, 204, e.do("POST", "/v1/agents/new-1/revoke", a.operator, nil).code)
	require.Equal(t, 401, e.do("POST", cloudapi.PathCheckin, out.Credential, cin).code)
	cred := e.enroll(a, "new-1")
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, cred, cin).code)
	// Only the hashes are stored.
	assert.Zero(t, e.count("SELECT count(*) FROM agents WHERE encode(credential_hash, 'escape') LIKE '%rga_%'"))
	r = e.raw(http.MethodPost, "/v1/agent/enroll", "", cloudapi.MediaJSON, []byte(`{"agent_id":"x"}`))
	require.Equal(t, 401, r.code)
	r.problem(t)
}
