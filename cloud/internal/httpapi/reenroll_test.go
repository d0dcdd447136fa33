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
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// A re-enrolled agent (a reinstalled rig computer: same rig, same agent
// id, a sequence restarting at 1, other diagnoses) gets a new identity:
// every one of its new diagnoses is stored, none is taken for a replay or
// a conflict of the old identity's, the old credential stops working and
// the rig keeps the whole history. Before the fix the agent kept its
// identity and each new diagnosis was a "conflict", discarded.
func TestReenrollmentKeepsNewDiagnoses(t *testing.T) {
	t.Parallel()
	const n, m = 5, 7
	for _, revokeFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("revoke_first=%v", revokeFirst), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, httpapi.Options{})
			a := e.tenant("alpha")
			send := func(cred string, ds []diag.Diagnosis) cloudapi.BatchResponse {
				t.Helper()
				r := e.gz(cloudapi.PathDiagnoses, cred, a.batch(ds...))
				require.Equal(t, 200, r.code, "%s", r.body)
				var br cloudapi.BatchResponse
				r.decode(t, &br)
				return br
			}
			var old, fresh []diag.Diagnosis
			for i := 1; i <= n; i++ {
				old = append(old, a.diagnosis(uint64(i), i, 0.9))
			}
			for i := 1; i <= m; i++ {
				// The same seqs (and some of the same windows) with other content.
				fresh = append(fresh, a.diagnosis(uint64(i), 100+i, 0.8))
			}
			br := send(a.cred, old)
			require.Equal(t, n, br.Accepted)
			oldCred := a.cred

			if revokeFirst {
				require.Equal(t, 204, e.do("POST", "/v1/agents/"+a.agent+"/revoke", a.operator, nil).code)
			}
			a.cred = e.enroll(a, a.agent)
			assert.Equal(t, 401, e.gz(cloudapi.PathDiagnoses, oldCred, a.batch(old[0])).code, "the old credential is revoked")

			br = send(a.cred, fresh)
			assert.Equal(t, m, br.Accepted, "every new diagnosis is stored: %+v", br.Results)
			assert.Zero(t, br.Conflicts+br.Duplicates+br.Rejected)
			// A replay of the new identity's batch is a replay.
			br = send(a.cred, fresh)
			assert.Equal(t, m, br.Duplicates)

			assert.Equal(t, n+m, e.count("SELECT count(*) FROM diagnoses"))
			var page struct {
				Items []diag.Diagnosis `json:"items"`
			}
			r := e.do("GET", "/v1/rigs/"+a.rig+"/diagnoses?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z", a.viewer, nil)
			require.Equal(t, 200, r.code, "%s", r.body)
			r.decode(t, &page)
			assert.Len(t, page.Items, n+m, "the rig keeps both identities' history")

			// One current agent, generation 2, online.
			var agents struct {
				Items []store.Agent `json:"items"`
			}
			e.do("GET", "/v1/agents?rig_id="+a.rig, a.viewer, nil).decode(t, &agents)
			require.Len(t, agents.Items, 1)
			assert.Equal(t, 2, agents.Items[0].Generation)
			assert.Nil(t, agents.Items[0].RevokedAt)
			cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
			require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)
			var st store.RigStatus
			e.do("GET", "/v1/rigs/"+a.rig+"/status", a.viewer, nil).decode(t, &st)
			require.Len(t, st.Agents, 1)
			assert.Equal(t, "online", st.Agents[0].Link)
		})
	}
}

// Moving an agent id to another rig needs a revocation first; the old
// rig keeps the diagnoses sent for it.
func TestReenrollmentOtherRig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	r := e.gz(cloudapi.PathDiagnoses, a.cred, a.batch(a.diagnosis(1, 0, 0.9)))
	require.Equal(t, 200, r.code, "%s", r.body)
	oldRig := a.rig

	r = e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "press-2", RigType: a.rigType})
	require.Equal(t, 201, r.code, "%s", r.body)
	var en store.Enrollment
	r = e.do("POST", "/v1/rigs/press-2/enrollments", a.operator, nil)
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &en)
	r = e.do("POST", cloudapi.PathEnroll, en.Token, cloudapi.EnrollRequest{AgentID: a.agent})
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "revoke it before enrolling it for rig \"press-2\"")

	require.Equal(t, 204, e.do("POST", "/v1/agents/"+a.agent+"/revoke", a.operator, nil).code)
	r = e.do("POST", cloudapi.PathEnroll, en.Token, cloudapi.EnrollRequest{AgentID: a.agent})
	require.Equal(t, 200, r.code, "%s", r.body)
	var out cloudapi.EnrollResponse
	r.decode(t, &out)
	assert.Equal(t, cloudapi.EnrollResponse{AgentID: a.agent, RigID: "press-2", RigType: a.rigType, Credential: out.Credential, Generation: 2}, out)

	a.rig = "press-2"
	r = e.gz(cloudapi.PathDiagnoses, out.Credential, a.batch(a.diagnosis(1, 0, 0.7)))
	require.Equal(t, 200, r.code, "%s", r.body)
	var br cloudapi.BatchResponse
	r.decode(t, &br)
	assert.Equal(t, 1, br.Accepted)
	assert.Equal(t, 1, e.count("SELECT count(*) FROM diagnoses d JOIN rigs r ON r.id = d.rig_id WHERE r.name = $1", oldRig))
	assert.Equal(t, 1, e.count("SELECT count(*) FROM diagnoses d JOIN rigs r ON r.id = d.rig_id WHERE r.name = 'press-2'"))
	var st store.RigStatus
	e.do("GET", "/v1/rigs/"+oldRig+"/status", a.viewer, nil).decode(t, &st)
	assert.Empty(t, st.Agents, "the replaced identity left its old rig's agents")
}

// Enrollments of one agent id racing: each answers 200 or 409 (never a
// 5xx), one identity is current at the end, and only the credential of
// the last one to commit works.
func TestReenrollmentConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	const n = 6
	tokens := make([]string, n)
	for i := range tokens {
		var en store.Enrollment
		r := e.do("POST", "/v1/rigs/"+a.rig+"/enrollments", a.operator, nil)
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &en)
		tokens[i] = en.Token
	}
	results := make(chan resp, n)
	for _, tok := range tokens {
		go func() {
			results <- e.do("POST", cloudapi.PathEnroll, tok, cloudapi.EnrollRequest{AgentID: a.agent})
		}()
	}
	var creds []string
	gens := map[int]bool{}
	for range n {
		r := <-results
		require.Contains(t, []int{200, 409}, r.code, "%s", r.body)
		if r.code == 200 {
			var out cloudapi.EnrollResponse
			r.decode(t, &out)
			assert.False(t, gens[out.Generation], "generation %d given twice", out.Generation)
			gens[out.Generation] = true
			creds = append(creds, out.Credential)
		}
	}
	require.NotEmpty(t, creds)
	assert.Equal(t, 1, e.count("SELECT count(*) FROM agents WHERE name = $1 AND replaced_at IS NULL", a.agent))
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	working := 0
	for _, c := range append(creds, a.cred) {
		if e.do("POST", cloudapi.PathCheckin, c, cin).code == 200 {
			working++
		}
	}
	assert.Equal(t, 1, working, "only the current identity's credential works")
}
