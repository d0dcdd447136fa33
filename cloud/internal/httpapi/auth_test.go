package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// The refusal table (TestAuthTable) is derived from httpapi.Operations,
// which TestOpenAPICoversEveryRoute proves equal to the routes
// registered: every operation that takes a credential is sent, its path
// parameters naming objects of tenant a (authValues), with every refusal
// its Auth and Role call for, so a route added later is in the table
// from the start. TestAuthTableCoversEveryRoute fails when a registered
// route is neither in the table nor exempt (authExempt, with a reason), or
// has a path parameter the table has no value for.

// authExempt are the routes left out of the table, each with its reason.
// Only routes that take no credential or an enrollment token may be.
var authExempt = map[string]string{
	"GET /health/live":  "no credential: the liveness probe",
	"GET /health/ready": "no credential: the readiness probe",
	"GET /openapi.json": "no credential: the public API document",
	"GET /metrics":      "its own guard, the metrics token or a loopback peer (metrics_guard_test.go)",
	"POST /v1/agent/enroll": "its credential is the one-time enrollment token, checked before the body is read " +
		"(TestEnrollment, enrollment_lifecycle_test.go, enrollment_probe_test.go, authlimit_test.go)",
}

// authRoute adjusts the table's request of one route.
type authRoute struct {
	// query is appended to the path.
	query string
	// body replaces the operation's example body with one naming a's
	// objects (v: authValues); with ctype, it is a []byte of that type.
	body  func(a *tenant, v map[string]string) any
	ctype string
	// object: the body names an object of a, so another organisation's
	// token gets 404 (an org-scoped path parameter implies it).
	object bool
	// own is the answer to a GET by a's least credential the operation
	// permits (0: 200), or to the write by it that changes nothing
	// (0: 400 invalid-body where the operation takes a JSON body, else
	// 404 for path parameters naming no object: authPassed).
	own int
}

// authRoutes are the routes whose request is not the derived one.
var authRoutes = map[string]authRoute{
	"GET /v1/models/:rig_type/compare": {query: "a=1&b=2"},
	"DELETE /v1/rig-types/:name":       {query: "version=1"},
	// The table's server serves no release repository: 503 once past
	// authentication.
	"GET /tuf/:file":         {own: 503},
	"GET /tuf/targets/*path": {own: 503},
	"POST /v1/releases":      {own: 503},
	"POST /v1/uploads": {object: true, body: func(a *tenant, _ map[string]string) any {
		return fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)}
	}},
	"POST /v1/datasets/from-uploads": {object: true, body: func(a *tenant, _ map[string]string) any {
		return fleetapi.FleetDatasetRequest{Name: "f", RigConfig: fleetRigYAML, RigIDs: []string{a.rig}, From: t0, To: t0.Add(time.Hour)}
	}},
	"PUT /v1/datasets/:id/archive": {ctype: httpapi.MediaGzip, body: func(*tenant, map[string]string) any {
		return []byte{0x1f, 0x8b} // never read: refused first
	}},
	"POST /v1/training/jobs": {object: true, body: func(_ *tenant, v map[string]string) any {
		id, _ := strconv.ParseInt(v["datasets"], 10, 64)
		return httpapi.JobRequest{DatasetID: id}
	}},
	// The agent routes: a's body, so that another agent's credential
	// writes for agent a.
	"POST /v1/agent/checkin": {body: func(a *tenant, _ map[string]string) any {
		return cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	}},
	"POST /v1/agent/diagnoses": {body: func(a *tenant, _ map[string]string) any { return a.batch(a.diagnosis(2, 1, 0.9)) }},
	"POST /v1/agent/uploads": {body: func(a *tenant, v map[string]string) any {
		return cloudapi.Upload{AgentID: a.agent, RequestID: v["uploads"], Part: 0, Last: true}
	}},
}

// authObjects are objects of tenant a that the table's paths name.
type authObjects struct {
	token, enrollment, alert, dataset, job, rollout int64
	upload                                          string
}

// authValues are the values of the path parameters: ":name" and "*name"
// take v[name], ":id" the value named by the segment before it (tokens,
// alerts, ...).
func authValues(a *tenant, o authObjects) map[string]string {
	return map[string]string{
		"org": strconv.FormatInt(a.orgID, 10), "rig": a.rig, "agent": a.agent, "component": "pump",
		"name": a.rigType, "rig_type": a.rigType, "version": "1",
		"file": "timestamp.json", "path": rel110,
		"tokens": strconv.FormatInt(o.token, 10), "enrollments": strconv.FormatInt(o.enrollment, 10),
		"alerts": strconv.FormatInt(o.alert, 10), "uploads": o.upload, "datasets": strconv.FormatInt(o.dataset, 10),
		"jobs": strconv.FormatInt(o.job, 10), "rollouts": strconv.FormatInt(o.rollout, 10),
	}
}

// authMissing are path parameter values naming no object of any
// organisation (a's organisation stays: the routes under it take a body).
func authMissing(a *tenant) map[string]string {
	none := int64(1 << 40)
	v := authValues(&tenant{orgID: a.orgID, rig: "no-such-rig", agent: "no-such-agent", rigType: "no-such-rig-type"},
		authObjects{token: none, enrollment: none, alert: none, dataset: none, job: none, rollout: none, upload: "up-1099511627776"})
	v["version"] = "99"
	return v
}

// authCred is a credential the table sends, with its name.
type authCred struct{ name, tok string }

// authAllowed are the least credentials that op.Auth (and op.Role)
// permit: every one must get past authentication and authorisation.
func authAllowed(op httpapi.Operation, roles map[store.Role]string, system, release, agent string) []authCred {
	role := authCred{"a's " + op.Role + " token", roles[store.Role(op.Role)]}
	switch op.Auth {
	case httpapi.AuthToken:
		return []authCred{role}
	case httpapi.AuthSystemOrToken:
		return []authCred{role, {"system token", system}}
	case httpapi.AuthSystem:
		return []authCred{{"system token", system}}
	case httpapi.AuthRelease:
		return []authCred{{"release token", release}}
	case httpapi.AuthAgent:
		return []authCred{{"a's agent credential", agent}}
	case httpapi.AuthRepository:
		return []authCred{{"a's viewer token", roles[store.RoleViewer]}, {"a's agent credential", agent}}
	}
	return nil
}

// authUnscoped are the path parameters that name no organisation's
// object (the release repository is the deployment's).
var authUnscoped = map[string]bool{"file": true, "path": true}

// authPath is route with its path parameters replaced by v's values;
// object says whether one of them names an organisation's object.
func authPath(route string, v map[string]string) (path string, object bool, err error) {
	segs := strings.Split(route, "/")
	for i, s := range segs {
		if s == "" || (s[0] != ':' && s[0] != '*') {
			continue
		}
		name := s[1:]
		key := name
		if name == "id" {
			key = segs[i-1]
		}
		val, ok := v[key]
		if !ok {
			return "", false, fmt.Errorf("route %s: no value for path parameter %s (key %q): add one to authValues", route, s, key)
		}
		segs[i] = val
		object = object || !authUnscoped[name]
	}
	return strings.Join(segs, "/"), object, nil
}

// Every registered route is an operation, and either in the refusal
// table (with a value for each path parameter, and a role when it takes
// an organisation's token) or exempt with a reason.
func TestAuthTableCoversEveryRoute(t *testing.T) {
	t.Parallel()
	ops := map[string]httpapi.Operation{}
	for _, op := range httpapi.Operations() {
		ops[op.Method+" "+op.Path] = op
	}
	v := authValues(&tenant{}, authObjects{})
	registered := map[string]bool{}
	for _, r := range httpapi.RegisteredRoutes(httpapi.New(nil, nil, httpapi.Options{Metrics: true})) {
		registered[r] = true
		op, ok := ops[r]
		if !assert.True(t, ok, "%s is registered but not in httpapi.Operations", r) {
			continue
		}
		if reason, ok := authExempt[r]; ok {
			assert.NotEmpty(t, reason, r)
			assert.Contains(t, []httpapi.Auth{httpapi.AuthNone, httpapi.AuthEnrollment}, op.Auth,
				"%s takes an API token or an agent credential: it may not be exempt from the refusal table", r)
			continue
		}
		assert.NotEqual(t, httpapi.AuthNone, op.Auth, "%s takes no credential: exempt it in authExempt, with the reason", r)
		_, _, err := authPath(op.Path, v)
		assert.NoError(t, err)
		if op.Auth == httpapi.AuthToken || op.Auth == httpapi.AuthSystemOrToken {
			assert.True(t, store.ValidRole(store.Role(op.Role)), "%s: Operation.Role %q is not viewer, operator or admin", r, op.Role)
		}
	}
	for r := range authExempt {
		assert.True(t, registered[r], "authExempt names %s, which is not a route", r)
	}
	for r := range authRoutes {
		assert.True(t, registered[r], "authRoutes names %s, which is not a route", r)
	}
}

// Every route that takes a credential refuses: none, a malformed or
// unknown one, a revoked or expired token, a revoked agent, a token of
// another organisation (404 where the path or body names an object:
// its existence does not leak), a role below the operation's, an agent
// credential on a token's route, a token on an agent route, another
// agent's credential writing for agent a, a system or release token
// where neither belongs. Every refusal is a problem document. The least
// credential the operation's Auth and Role permit (authAllowed) gets past
// authorisation, neither 401 nor 403: a GET answers (so the other
// organisation's 404 is the scoping's), a write that changes nothing
// answers 400 invalid-body (a malformed JSON body: every role check runs
// before the body is read) or 404 (path parameters naming no object).
// So the role enforced is the one documented. With and without the
// authentication cache (the revoked credentials were used, so cached,
// before their revocation).
func TestAuthTable(t *testing.T) {
	t.Parallel()
	blobs := func(t *testing.T) *blob.FS {
		b, err := blob.NewFS(t.TempDir(), 64<<20)
		require.NoError(t, err)
		return b
	}
	t.Run("no cache", func(t *testing.T) {
		t.Parallel()
		b := blobs(t)
		testAuthTable(t, newEnv(t, httpapi.Options{Catalog: testCatalog(), Blobs: b}), b)
	})
	t.Run("cache", func(t *testing.T) {
		t.Parallel()
		pool, u := dbtest.Migrated(t)
		c := authcache.New(authcache.Options{TTL: time.Hour})
		listen(t, c, pool)
		b := blobs(t)
		testAuthTable(t, newEnvOn(t, pool, u, httpapi.Options{AuthCache: c, Catalog: testCatalog(), Blobs: b}), b)
	})
}

// authObjects makes an object of a for each kind the paths name (the
// model versions' bundles in blobs).
func (e *env) authObjects(a *tenant, blobs httpapi.Blobs) authObjects {
	t := e.t
	ctx := context.Background()
	var o authObjects
	tok, _, err := e.st.CreateToken(ctx, a.orgID, "spare", store.RoleViewer, time.Time{})
	require.NoError(t, err)
	o.token = tok.ID
	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/"+a.rig+"/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &en)
	o.enrollment = en.ID
	// A critical diagnosis opens an alert.
	r = e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(a.diagnosis(1, 0, 0.1)))
	require.Equal(t, 200, r.code, "%s", r.body)
	var alerts fleetapi.Page[fleetapi.Alert]
	r = e.do("GET", "/v1/alerts", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &alerts)
	require.NotEmpty(t, alerts.Items, "the critical diagnosis opened no alert")
	o.alert = alerts.Items[0].ID
	var up fleetapi.FleetUpload
	r = e.do("POST", "/v1/uploads", a.operator, fleetapi.UploadRequestBody{RigID: a.rig, From: t0, To: t0.Add(time.Hour)})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &up)
	o.upload = up.ID
	// A ready data set, two jobs on it and their model versions 1 and 2,
	// in SQL: training is not what the table tests.
	insert := func(q string, args ...any) int64 {
		var id int64
		require.NoError(t, e.st.Pool().QueryRow(ctx, q, args...).Scan(&id))
		return id
	}
	o.dataset = insert(`INSERT INTO datasets (org_id, name, kind, source, rig_type, rig_config, config_digest, state, blob_key, bytes, digest)
		VALUES ($1, 'auth-table', 'uci', 'import', $2, $3, 'sha256:00', 'ready', 'datasets/auth-table.tar.gz', 100, 'sha256:00') RETURNING id`,
		a.orgID, a.rigType, fleetRigYAML)
	for version := 1; version <= 2; version++ {
		key := fmt.Sprintf("jobs/auth-table/%d/bundle.tar.gz", version)
		_, err := blobs.Put(ctx, key, strings.NewReader("not a real bundle"))
		require.NoError(t, err)
		o.job = insert(`INSERT INTO training_jobs (org_id, dataset_id, rig_type, config, max_attempts) VALUES ($1, $2, $3, '{}', 3) RETURNING id`,
			a.orgID, o.dataset, a.rigType)
		insert(`INSERT INTO model_versions (org_id, rig_type, version, bundle_name, bundle_version, job_id, dataset_id,
			dataset_digest, archive_digest, code_version, backend, config, metrics, manifest, artifact_key, artifact_bytes, artifact_digest)
			VALUES ($1, $2, $3, 'zema', $4, $5, $6, 'sha256:00', 'sha256:00', 'dev', 'go', '{}', '{}', '{}', $7, 100, 'sha256:00')
			RETURNING id`, a.orgID, a.rigType, version, strconv.Itoa(version), o.job, o.dataset, key)
	}
	var ro rolloutapi.Rollout
	r = e.do("POST", "/v1/rollouts", a.operator, rolloutapi.CreateRequest{Release: rel110})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &ro)
	o.rollout = ro.ID
	// GET /v1/rig-types/{name} names a registered rig type.
	e.registerRigType(a)
	return o
}

func testAuthTable(t *testing.T, e *env, blobs httpapi.Blobs) {
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
	release := e.releaseToken()

	v := authValues(a, e.authObjects(a, blobs))
	roles := map[store.Role]string{store.RoleViewer: a.viewer, store.RoleOperator: a.operator, store.RoleAdmin: a.admin}
	for _, op := range httpapi.Operations() {
		key := op.Method + " " + op.Path
		if _, ok := authExempt[key]; ok {
			continue
		}
		rt := authRoutes[key]
		t.Run(key, func(t *testing.T) {
			path, object, err := authPath(op.Path, v)
			require.NoError(t, err)
			if rt.query != "" {
				path += "?" + rt.query
			}
			object = object || rt.object
			body := op.Body
			if rt.body != nil {
				body = rt.body(a, v)
			}
			send := func(path, tok string) resp {
				t.Helper()
				if rt.ctype != "" {
					return e.raw(op.Method, path, tok, rt.ctype, body.([]byte))
				}
				return e.do(op.Method, path, tok, body)
			}
			check := func(name, tok string, want int, typ string) {
				t.Helper()
				r := send(path, tok)
				require.Equal(t, want, r.code, "%s %s, %s: %s", op.Method, path, name, r.body)
				assert.Equal(t, typ, r.problem(t).Type, name)
			}
			refuse := func(name, tok string) { check(name, tok, 403, cloudapi.ProblemForbidden) }
			below := func(least store.Role) {
				for role, tok := range roles {
					if role.Rank() < least.Rank() {
						refuse(string(role)+" below "+string(least), tok)
					}
				}
			}
			check("no token", "", 401, cloudapi.ProblemUnauthorized)
			check("garbage token", "hunter2", 401, cloudapi.ProblemUnauthorized)
			check("unknown token", "rgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 401, cloudapi.ProblemUnauthorized)
			check("revoked token", sec, 401, cloudapi.ProblemUnauthorized)
			check("expired token", expired, 401, cloudapi.ProblemUnauthorized)
			check("revoked agent", revokedAgent, 401, cloudapi.ProblemUnauthorized)
			switch op.Auth {
			case httpapi.AuthAgent:
				refuse("admin token", a.admin)
				refuse("system token", e.system)
				refuse("release token", release)
				refuse("another agent's credential, for agent "+a.agent, b.cred)
			case httpapi.AuthToken:
				refuse("agent credential", a.cred)
				refuse("system token", e.system)
				refuse("release token", release)
				below(store.Role(op.Role))
			case httpapi.AuthSystemOrToken:
				refuse("agent credential", a.cred)
				refuse("release token", release)
				below(store.Role(op.Role))
			case httpapi.AuthSystem:
				refuse("agent credential", a.cred)
				refuse("release token", release)
				for role, tok := range roles {
					refuse(string(role)+" token", tok)
				}
			case httpapi.AuthRelease:
				refuse("agent credential", a.cred)
				refuse("system token", e.system)
				for role, tok := range roles {
					refuse(string(role)+" token", tok)
				}
			case httpapi.AuthRepository:
				refuse("system token", e.system)
			default:
				t.Fatalf("the table has no refusals for Auth %d", op.Auth)
			}
			if object {
				check("other organisation's admin", b.admin, 404, cloudapi.ProblemNotFound)
			}
			// The least credentials permitted pass: a GET answers, a
			// write that changes nothing (a malformed JSON body, or path
			// parameters naming no object) is refused past
			// authorisation, never 401 or 403.
			allowed := authAllowed(op, roles, e.system, release, a.cred)
			require.NotEmpty(t, allowed, "the table has no permitted credential for Auth %d", op.Auth)
			for _, c := range allowed {
				require.NotEmpty(t, c.tok, "no %s (role %q)", c.name, op.Role)
				var r resp
				want, typ, at := rt.own, "", path
				switch {
				case op.Method == http.MethodGet:
					if want == 0 {
						want = 200
					}
					r = e.do(op.Method, path, c.tok, nil)
				case op.Body != nil && rt.ctype == "":
					if want == 0 {
						want, typ = 400, cloudapi.ProblemInvalidBody
					}
					r = e.raw(op.Method, path, c.tok, cloudapi.MediaJSON, []byte("{"))
				default:
					at, _, err = authPath(op.Path, authMissing(a))
					require.NoError(t, err)
					if rt.query != "" {
						at += "?" + rt.query
					}
					if want == 0 {
						want, typ = 404, cloudapi.ProblemNotFound
					}
					r = send(at, c.tok)
				}
				assert.NotContains(t, []int{401, 403}, r.code, "%s %s, %s: refused: %s", op.Method, at, c.name, r.body)
				assert.Equal(t, want, r.code, "%s %s, %s: %s", op.Method, at, c.name, r.body)
				if typ != "" && r.code == want {
					assert.Equal(t, typ, r.problem(t).Type, "%s %s, %s", op.Method, at, c.name)
				}
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
