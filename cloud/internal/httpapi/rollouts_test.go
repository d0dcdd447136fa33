package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/rollout"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

const (
	rel100 = "zema-testrig/zema-testrig-1.0.0.tar.gz"
	rel110 = "zema-testrig/zema-testrig-1.1.0.tar.gz"
	rel120 = "zema-testrig/zema-testrig-1.2.0.tar.gz"
)

func testCatalog() httpapi.StaticCatalog {
	c := httpapi.ExampleCatalog()
	t120 := *c.Targets[rel110]
	t120.Version, t120.ManifestDigest = "1.2.0", "sha256:9c42"
	c.Targets[rel120] = &t120
	other := release.Target{FormatVersion: 1, Bundle: "skab-testbed", Version: "2.0.0", RigType: "skab-testbed"}
	c.Targets[other.Path()] = &other
	return c
}

// member is an enrolled agent of its own rig.
type member struct{ agent, rig, cred string }

// rigAgent makes a zema-testrig rig with labels and enrolls an agent for it.
func (e *env) rigAgent(tn *tenant, rig, agent string, labels map[string]string) member {
	e.t.Helper()
	return e.enrollAgent(tn, fleetapi.RigRequest{RigID: rig, RigType: "zema-testrig"}, agent, labels)
}

// enrollAgent registers rig (its id, type and firmware digest, if any)
// with labels (nil: none) and enrolls agent for it.
func (e *env) enrollAgent(tn *tenant, rig fleetapi.RigRequest, agent string, labels map[string]string) member {
	e.t.Helper()
	r := e.do("POST", "/v1/rigs", tn.operator, rig)
	require.Equal(e.t, 201, r.code, "%s", r.body)
	if labels != nil {
		r = e.do("PUT", "/v1/rigs/"+rig.RigID+"/labels", tn.operator, rolloutapi.LabelsRequest{Labels: labels})
		require.Equal(e.t, 200, r.code, "%s", r.body)
	}
	r = e.do("POST", "/v1/rigs/"+rig.RigID+"/enrollments", tn.operator, nil)
	require.Equal(e.t, 201, r.code, "%s", r.body)
	var en struct{ Token string }
	r.decode(e.t, &en)
	var out cloudapi.EnrollResponse
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: agent, RigID: rig.RigID})
	require.Equal(e.t, 200, r.code, "%s", r.body)
	r.decode(e.t, &out)
	return member{agent: agent, rig: rig.RigID, cred: out.Credential}
}

// checkin reports installed (and upd) and returns the offer answered.
func (e *env) checkin(m member, installed string, upd *cloudapi.UpdateStatus) *cloudapi.Offer {
	e.t.Helper()
	return e.checkinFW(m, installed, "", upd)
}

// checkinFW is checkin reporting the firmware digest fw too ("": an
// agent older than the field).
func (e *env) checkinFW(m member, installed, fw string, upd *cloudapi.UpdateStatus) *cloudapi.Offer {
	e.t.Helper()
	req := cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
		Model: &diag.ModelRef{Version: installed}, Update: upd, FirmwareDigest: fw}
	return e.offer(m, req)
}

// offer sends m's check-in req and returns the offer answered.
func (e *env) offer(m member, req cloudapi.CheckinRequest) *cloudapi.Offer {
	e.t.Helper()
	r := e.gz(cloudapi.PathCheckin, m.cred, req)
	require.Equal(e.t, 200, r.code, "%s", r.body)
	out, err := cloudapi.DecodeCheckinResponse(r.body)
	require.NoError(e.t, err)
	return out.Offer
}

func upd(state, installed, target, lastErr string) *cloudapi.UpdateStatus {
	return &cloudapi.UpdateStatus{State: state, Installed: installed, Target: target, LastError: lastErr, Changed: time.Now().UTC()}
}

func (e *env) rollout(token string, id int64) rolloutapi.Rollout {
	e.t.Helper()
	r := e.do("GET", fmt.Sprintf("/v1/rollouts/%d", id), token, nil)
	require.Equal(e.t, 200, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(e.t, &ro)
	return ro
}

func (e *env) act(token string, id int64, action string, want int) rolloutapi.Rollout {
	e.t.Helper()
	r := e.do("POST", fmt.Sprintf("/v1/rollouts/%d/%s", id, action), token, nil)
	require.Equal(e.t, want, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	if want == 200 {
		r.decode(e.t, &ro)
	} else {
		r.problem(e.t)
	}
	return ro
}

// tick steps every running rollout once with the engine's clock at now.
func tick(t testing.TB, st rollout.Store, now time.Time) []rollout.Step {
	t.Helper()
	steps, err := rollout.NewEngine(st, rollout.Options{Now: func() time.Time { return now }}).Tick(context.Background())
	require.NoError(t, err)
	return steps
}

func events(steps []rollout.Step) []string {
	var out []string
	for _, s := range steps {
		if s.Event != "" {
			out = append(out, fmt.Sprintf("%d:%s:%d", s.RolloutID, s.Event, s.Cohort))
		}
	}
	return out
}

// offered returns the members that get an offer of target.
func (e *env) offered(ms []member, installed map[string]string, target string) []string {
	var out []string
	for _, m := range ms {
		if o := e.checkin(m, installed[m.agent], nil); o != nil && o.Target == target {
			out = append(out, m.agent)
		}
	}
	return out
}

func TestRollouts(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	acme, other := e.tenant("acme"), e.tenant("other")
	// acme: its tenant agent plus 9 more; 4 of them on line a.
	ms := []member{{agent: acme.agent, rig: acme.rig, cred: acme.cred}}
	for i := range 9 {
		var labels map[string]string
		if i < 4 {
			labels = map[string]string{"line": "a"}
		}
		ms = append(ms, e.rigAgent(acme, fmt.Sprintf("press-%d", i), fmt.Sprintf("agent-%d", i), labels))
	}
	installed := map[string]string{}
	for _, m := range ms {
		installed[m.agent] = "1.0.0"
	}
	ctx := context.Background()

	t.Run("no rollout, no offer", func(t *testing.T) {
		assert.Empty(t, e.offered(ms, installed, rel110))
	})

	var ro rolloutapi.Rollout
	t.Run("create", func(t *testing.T) {
		req := rolloutapi.CreateRequest{Release: rel110, SoakS: 60}
		r := e.do("POST", "/v1/rollouts", acme.viewer, req)
		require.Equal(t, 403, r.code, "a viewer may not create")
		for _, c := range []struct {
			req  rolloutapi.CreateRequest
			code int
			want string
		}{
			{rolloutapi.CreateRequest{Release: "zema-testrig/zema-testrig-9.9.9.tar.gz"}, 422, "not in the repository"},
			{rolloutapi.CreateRequest{Release: "../x"}, 400, "invalid field"},
			{rolloutapi.CreateRequest{Release: rel110, Cohorts: []rolloutapi.CohortSpec{{Percent: 50}}}, 400, "invalid field"},
			{rolloutapi.CreateRequest{Release: rel110, SuccessThreshold: 1.5}, 400, "invalid field"},
			{rolloutapi.CreateRequest{Release: rel110, Selection: rolloutapi.Selection{RigType: "skab-testbed"}}, 422, "not the release's rig type"},
			{rolloutapi.CreateRequest{Release: rel110, Previous: rel120}, 422, "not older"},
			{rolloutapi.CreateRequest{Release: rel110, Selection: rolloutapi.Selection{Labels: map[string]string{"line": "z"}}}, 422, "picks no agent"},
			{rolloutapi.CreateRequest{Release: "skab-testbed/skab-testbed-2.0.0.tar.gz"}, 422, "picks no agent"},
		} {
			r := e.do("POST", "/v1/rollouts", acme.operator, c.req)
			require.Equal(t, c.code, r.code, "%+v: %s", c.req, r.body)
			assert.Contains(t, r.problem(t).Detail, c.want)
		}
		r = e.do("POST", "/v1/rollouts", acme.operator, req)
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &ro)
		assert.Equal(t, rolloutapi.Running, ro.State)
		assert.Equal(t, rolloutapi.Release{Target: rel110, Version: "1.1.0", BundleFormat: 1, ManifestDigest: "sha256:77c1",
			ConfigDigest: testCatalog().Targets[rel110].ConfigDigest}, ro.Release)
		require.NotNil(t, ro.Previous, "the newest older release of the bundle")
		assert.Equal(t, rel100, ro.Previous.Target)
		assert.Equal(t, 10, ro.Agents)
		require.Len(t, ro.Cohorts, 3, "1, 10 %% (no new agent), 50 %%, 100 %% of 10")
		assert.Equal(t, []int{1, 4, 5}, []int{ro.Cohorts[0].Size, ro.Cohorts[1].Size, ro.Cohorts[2].Size})
		assert.Equal(t, rolloutapi.CohortSoaking, ro.Cohorts[0].State)
		assert.Equal(t, 1, ro.Counts[rolloutapi.AgentOffered])
		assert.Len(t, ro.AgentStates, 10)
		// Another rollout of the same agents while this one is active.
		r = e.do("POST", "/v1/rollouts", acme.admin, rolloutapi.CreateRequest{Release: rel120})
		require.Equal(t, 409, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, "still active")
	})

	t.Run("org scoping", func(t *testing.T) {
		r := e.do("GET", fmt.Sprintf("/v1/rollouts/%d", ro.ID), other.admin, nil)
		assert.Equal(t, 404, r.code)
		r.problem(t)
		r = e.do("POST", fmt.Sprintf("/v1/rollouts/%d/pause", ro.ID), other.operator, nil)
		assert.Equal(t, 404, r.code)
		r = e.do("GET", "/v1/rollouts", other.viewer, nil)
		require.Equal(t, 200, r.code)
		var l rolloutapi.List
		r.decode(t, &l)
		assert.Empty(t, l.Items)
		r = e.do("GET", "/v1/rollouts", acme.viewer, nil)
		r.decode(t, &l)
		require.Len(t, l.Items, 1)
		assert.Nil(t, l.Items[0].AgentStates, "lists leave the agents out")
		assert.Nil(t, e.checkin(member{agent: other.agent, rig: other.rig, cred: other.cred}, "1.0.0", nil), "another org's agent gets no offer")
		// A rollout of the other org's rigs sees only its agent.
		r = e.do("POST", "/v1/rollouts", other.operator, rolloutapi.CreateRequest{Release: rel110, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}})
		require.Equal(t, 201, r.code, "%s", r.body)
		var ro2 rolloutapi.Rollout
		r.decode(t, &ro2)
		assert.Equal(t, 1, ro2.Agents)
		assert.Equal(t, other.agent, ro2.AgentStates[0].AgentID)
		e.act(other.operator, ro2.ID, store.ActionAbort, 200)
	})

	cohort := func(ro rolloutapi.Rollout, k int) []member {
		var out []member
		for _, a := range ro.AgentStates {
			if a.Cohort == k {
				for _, m := range ms {
					if m.agent == a.AgentID {
						out = append(out, m)
					}
				}
			}
		}
		return out
	}
	commit := func(ms []member) {
		for _, m := range ms {
			e.checkin(m, "1.0.0", upd("downloading", "1.0.0", rel110, ""))
			e.checkin(m, "1.0.0", upd("canary", "1.0.0", rel110, ""))
			installed[m.agent] = "1.1.0"
			e.checkin(m, "1.1.0", upd("committed", "1.1.0", "", ""))
		}
	}

	t.Run("cohorts advance on success after the soak", func(t *testing.T) {
		c0 := cohort(ro, 0)
		require.Len(t, c0, 1)
		assert.Equal(t, []string{c0[0].agent}, e.offered(ms, installed, rel110), "only the first cohort is offered the release")
		e.checkin(c0[0], "1.0.0", upd("downloading", "1.0.0", rel110, ""))
		got := e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, 1, got.Counts[rolloutapi.AgentDownloading])
		commit(c0)
		got = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, rolloutapi.AgentCommitted, got.AgentStates[0].State)
		require.NotNil(t, got.AgentStates[0].CommittedAt)

		assert.Empty(t, events(tick(t, e.st, time.Now())), "the 60 s soak has not passed")
		assert.Equal(t, []string{fmt.Sprintf("%d:advanced:1", ro.ID)}, events(tick(t, e.st, time.Now().Add(61*time.Second))))
		ro = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, 1, ro.Cohort)
		assert.Equal(t, rolloutapi.CohortSucceeded, ro.Cohorts[0].State)
		assert.Equal(t, rolloutapi.CohortSoaking, ro.Cohorts[1].State)
		assert.Len(t, e.offered(ms, installed, rel110), 5)
	})

	t.Run("pause and resume", func(t *testing.T) {
		got := e.act(acme.operator, ro.ID, store.ActionPause, 200)
		assert.Equal(t, rolloutapi.Paused, got.State)
		e.act(acme.operator, ro.ID, store.ActionPause, 409)
		e.act(acme.viewer, ro.ID, store.ActionResume, 403)
		assert.Empty(t, e.offered(ms, installed, rel110), "a paused rollout offers nothing")
		commit(cohort(ro, 1))
		assert.Empty(t, events(tick(t, e.st, time.Now().Add(time.Hour))), "a paused rollout does not advance")
		got = e.act(acme.operator, ro.ID, store.ActionResume, 200)
		assert.Equal(t, rolloutapi.Running, got.State)
		assert.Len(t, e.offered(ms, installed, rel110), 5)
		assert.Equal(t, []string{fmt.Sprintf("%d:advanced:2", ro.ID)}, events(tick(t, e.st, time.Now().Add(time.Hour))))
		commit(cohort(ro, 2))
		// The engine's clock started cohort 2 an hour ahead.
		assert.Empty(t, events(tick(t, e.st, time.Now().Add(time.Hour))), "the last cohort soaks too")
		assert.Equal(t, []string{fmt.Sprintf("%d:completed:2", ro.ID)}, events(tick(t, e.st, time.Now().Add(2*time.Hour))))
		ro = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, rolloutapi.Completed, ro.State)
		assert.Equal(t, 10, ro.Counts[rolloutapi.AgentCommitted])
		assert.Len(t, e.offered(ms, installed, rel110), 10, "a completed rollout keeps offering the release")
		e.act(acme.operator, ro.ID, store.ActionAbort, 409)
	})

	t.Run("rollback offers the previous release", func(t *testing.T) {
		got := e.act(acme.operator, ro.ID, store.ActionRollback, 200)
		assert.Equal(t, rolloutapi.RolledBack, got.State)
		for _, m := range ms {
			o := e.checkin(m, "1.1.0", nil)
			require.NotNil(t, o)
			assert.Equal(t, cloudapi.Offer{Target: rel100, Version: "1.0.0", Rollout: ro.ID}, *o, "older than installed: an explicit rollback")
		}
		e.checkin(ms[0], "1.0.0", upd("idle", "1.0.0", "", ""))
		got = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, 1, got.Counts[rolloutapi.AgentRolledBack])
		e.act(acme.operator, ro.ID, store.ActionRollback, 409)
		// An agent whose reinstall of 1.0.0 fails is failed, with why,
		// until it reports 1.0.0 installed.
		failing := upd("failed", "1.1.0", rel100, "canary of "+rel100+": agreement 0.3 below 0.9")
		failing.Rollout = ro.ID
		e.checkin(ms[1], "1.1.0", failing)
		e.checkin(ms[1], "1.1.0", upd("idle", "1.1.0", "", ""))
		got = e.rollout(acme.viewer, ro.ID)
		assert.Equal(t, 1, got.Counts[rolloutapi.AgentFailed])
		for _, a := range got.AgentStates {
			if a.AgentID == ms[1].agent {
				assert.Equal(t, rolloutapi.AgentFailed, a.State)
				assert.Equal(t, "canary of "+rel100+": agreement 0.3 below 0.9", a.Detail)
			}
		}
		for _, m := range ms {
			installed[m.agent] = "1.0.0"
			e.checkin(m, "1.0.0", upd("idle", "1.0.0", "", ""))
		}
		assert.Equal(t, 10, e.rollout(acme.viewer, ro.ID).Counts[rolloutapi.AgentRolledBack])
	})

	var bad rolloutapi.Rollout
	t.Run("halt on failures", func(t *testing.T) {
		r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, SoakS: 0.2, FailureThreshold: 0.5,
			Cohorts: []rolloutapi.CohortSpec{{Agents: 2}, {Percent: 100}}})
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &bad)
		require.NotNil(t, bad.Previous)
		assert.Equal(t, rel100, bad.Previous.Target, "what the agents serve, not 1.1.0 (newer, but rolled back)")
		c0 := cohort(bad, 0)
		require.Len(t, c0, 2)
		require.NotNil(t, e.checkin(c0[0], "1.0.0", upd("canary", "1.0.0", rel120, "")))
		assert.Empty(t, events(tick(t, e.st, time.Now())))
		e.checkin(c0[0], "1.0.0", upd("failed", "1.0.0", rel120, "canary of "+rel120+": agreement 0.41 below 0.9"))
		assert.Equal(t, []string{fmt.Sprintf("%d:halted:0", bad.ID)}, events(tick(t, e.st, time.Now())), "1 of 2 failed: at the threshold 0.5")
		bad = e.rollout(acme.viewer, bad.ID)
		assert.Equal(t, rolloutapi.Halted, bad.State)
		assert.Contains(t, bad.Reason, "cohort 0: 1 of 2 agents failed or rolled back")
		assert.Equal(t, rolloutapi.CohortFailed, bad.Cohorts[0].State)
		for _, a := range bad.AgentStates {
			if a.AgentID == c0[0].agent {
				assert.Equal(t, rolloutapi.AgentFailed, a.State)
				assert.Contains(t, a.Detail, "agreement 0.41")
			}
		}
		assert.Empty(t, e.offered(ms, installed, rel120), "a halted rollout offers nothing")
		// Resumed with the failure still there: halts again.
		e.act(acme.operator, bad.ID, store.ActionResume, 200)
		assert.Equal(t, []string{fmt.Sprintf("%d:halted:0", bad.ID)}, events(tick(t, e.st, time.Now())))
		// The agent retries and commits; the other too: resumed, it advances.
		e.checkin(c0[0], "1.2.0", upd("committed", "1.2.0", "", ""))
		e.checkin(c0[1], "1.2.0", upd("committed", "1.2.0", "", ""))
		e.act(acme.operator, bad.ID, store.ActionResume, 200)
		assert.Equal(t, []string{fmt.Sprintf("%d:advanced:1", bad.ID)}, events(tick(t, e.st, time.Now().Add(time.Second))))
		// A committed agent of the first cohort rolls back by itself: halt.
		e.checkin(c0[1], "1.0.0", upd("idle", "1.0.0", "", "watchdog: error rate 0.4 above 0.2"))
		assert.Equal(t, []string{fmt.Sprintf("%d:halted:0", bad.ID)}, events(tick(t, e.st, time.Now().Add(time.Second))))
		got := e.act(acme.operator, bad.ID, store.ActionAbort, 200)
		assert.Equal(t, rolloutapi.Aborted, got.State)
		e.act(acme.operator, bad.ID, store.ActionResume, 409)
		assert.Nil(t, e.checkin(c0[0], "1.2.0", nil), "an aborted rollout offers nothing")
	})

	t.Run("edit a halted rollout", func(t *testing.T) {
		r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, SoakS: 60, FailureThreshold: 0.5,
			Cohorts: []rolloutapi.CohortSpec{{Agents: 2}, {Percent: 100}}})
		require.Equal(t, 201, r.code, "%s", r.body)
		var h rolloutapi.Rollout
		r.decode(t, &h)
		path := fmt.Sprintf("/v1/rollouts/%d", h.ID)
		f := func(v float64) *float64 { return &v }
		edit := rolloutapi.EditRequest{SuccessThreshold: f(0.5), FailureThreshold: f(1), SoakS: f(30)}
		r = e.do("PATCH", path, acme.operator, edit)
		require.Equal(t, 409, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, "cannot edit rollout "+fmt.Sprint(h.ID)+": it is running: pause it first")

		// One flaky rig of a cohort of two halts it at 0.5.
		c0 := cohort(h, 0)
		require.Len(t, c0, 2)
		e.checkin(c0[0], "1.0.0", upd("failed", "1.0.0", rel120, "download of "+rel120+": connection reset"))
		require.Equal(t, []string{fmt.Sprintf("%d:halted:0", h.ID)}, events(tick(t, e.st, time.Now())))

		r = e.do("PATCH", path, acme.viewer, edit)
		assert.Equal(t, 403, r.code, "a viewer may not edit")
		r = e.do("PATCH", path, other.operator, edit)
		assert.Equal(t, 404, r.code, "another org's rollout")
		r.problem(t)
		for _, c := range []struct {
			body any
			want string
		}{
			{rolloutapi.EditRequest{FailureThreshold: f(0)}, "/failure_threshold: 0 is not in (0, 1]"},
			{rolloutapi.EditRequest{SuccessThreshold: f(1.5), SoakS: f(-1)}, "/success_threshold: 1.5 is not in (0, 1]\n/soak_s: -1 is not in [0, 2.592e+06]"},
			{map[string]any{}, ": nothing to change"},
			{map[string]any{"soak": 30}, `unknown field "soak"`},
		} {
			r := e.do("PATCH", path, acme.operator, c.body)
			require.Equal(t, 400, r.code, "%+v: %s", c.body, r.body)
			p := r.problem(t)
			var all []string
			for _, fp := range p.Errors {
				all = append(all, fp.Pointer+": "+fp.Detail)
			}
			assert.Contains(t, strings.Join(append(all, p.Detail), "\n"), c.want)
		}
		assert.Equal(t, rolloutapi.Halted, e.rollout(acme.viewer, h.ID).State, "refused edits change nothing")

		r = e.do("PATCH", path, acme.operator, edit)
		require.Equal(t, 200, r.code, "%s", r.body)
		var got rolloutapi.Rollout
		r.decode(t, &got)
		assert.Equal(t, rolloutapi.Halted, got.State, "an edit does not resume")
		assert.Equal(t, 0.5, got.SuccessThreshold)
		assert.Equal(t, 1.0, got.FailureThreshold)
		assert.Equal(t, []float64{30, 30}, []float64{got.Cohorts[0].SoakS, got.Cohorts[1].SoakS}, "the current and later cohorts")
		assert.Equal(t, "edit by an operator: success_threshold 0.9 -> 0.5, failure_threshold 0.5 -> 1, soak_s 60 -> 30 from cohort 0; "+
			"cohort 0: 1 of 2 agents failed or rolled back, at or above the failure threshold 0.5", got.Reason)
		assert.True(t, got.UpdatedAt.After(h.UpdatedAt))
		assert.Len(t, got.AgentStates, h.Agents)
		// Resumed, it is judged by the new thresholds and soak: 1 of 2
		// failed is below 1, 1 of 2 committed for 30 s meets 0.5.
		e.checkin(c0[1], "1.2.0", upd("committed", "1.2.0", "", ""))
		e.act(acme.operator, h.ID, store.ActionResume, 200)
		assert.Empty(t, events(tick(t, e.st, time.Now().Add(20*time.Second))), "the 30 s soak has not passed")
		assert.Equal(t, []string{fmt.Sprintf("%d:advanced:1", h.ID)}, events(tick(t, e.st, time.Now().Add(31*time.Second))))
		h = e.rollout(acme.viewer, h.ID)
		assert.Equal(t, rolloutapi.Running, h.State)
		assert.Equal(t, rolloutapi.CohortSucceeded, h.Cohorts[0].State)
		for _, a := range h.AgentStates {
			if a.AgentID == c0[0].agent {
				assert.Equal(t, rolloutapi.AgentFailed, a.State, "the flaky agent is still failed")
			}
		}
		e.act(acme.operator, h.ID, store.ActionAbort, 200)
		r = e.do("PATCH", path, acme.operator, edit)
		require.Equal(t, 409, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, "it is aborted")
	})

	t.Run("labels select", func(t *testing.T) {
		r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, Selection: rolloutapi.Selection{Labels: map[string]string{"line": "a"}}})
		require.Equal(t, 201, r.code, "%s", r.body)
		var l rolloutapi.Rollout
		r.decode(t, &l)
		assert.Equal(t, 4, l.Agents)
		for _, a := range l.AgentStates {
			assert.Contains(t, []string{"press-0", "press-1", "press-2", "press-3"}, a.RigID)
		}
		e.act(acme.operator, l.ID, store.ActionAbort, 200)
		r = e.do("PUT", "/v1/rigs/press-0/labels", acme.operator, rolloutapi.LabelsRequest{Labels: map[string]string{"bad key": "x"}})
		assert.Equal(t, 400, r.code)
		r = e.do("PUT", "/v1/rigs/"+other.rig+"/labels", acme.operator, rolloutapi.LabelsRequest{})
		assert.Equal(t, 404, r.code, "another org's rig")
	})

	t.Run("replicas race the engine", func(t *testing.T) {
		r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, SoakS: 1})
		require.Equal(t, 201, r.code, "%s", r.body)
		var race rolloutapi.Rollout
		r.decode(t, &race)
		c0 := cohort(race, 0)
		e.checkin(c0[0], "1.2.0", upd("committed", "1.2.0", "", ""))
		// Four replicas (own pools), each ticking 5 times at once.
		url := e.st.Pool().Config().ConnString()
		var mu sync.Mutex
		var all []string
		var wg sync.WaitGroup
		for range 4 {
			pool, err := db.Open(ctx, url, db.Options{MaxConns: 2})
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			st := store.New(pool)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					steps, err := rollout.NewEngine(st, rollout.Options{Now: func() time.Time { return time.Now().Add(time.Hour) }}).Tick(ctx)
					assert.NoError(t, err)
					mu.Lock()
					all = append(all, events(steps)...)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, []string{fmt.Sprintf("%d:advanced:1", race.ID)}, all, "exactly one replica advanced the cohort, once")
		race = e.rollout(acme.viewer, race.ID)
		assert.Equal(t, 1, race.Cohort)
		assert.Equal(t, rolloutapi.CohortPending, race.Cohorts[2].State)
		assert.Equal(t, 1+race.Cohorts[1].Size, race.Counts[rolloutapi.AgentOffered]+race.Counts[rolloutapi.AgentCommitted])
	})
}

// TestRolloutLateJoiners: a rig enrolled or labelled after a rollout was
// made joins it at its last cohort, offered when that cohort has started
// or the rollout completed; rigs the selection does not describe, and
// agents of a newer or active rollout, do not.
func TestRolloutLateJoiners(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	acme := e.tenant("acme")
	first := []member{{agent: acme.agent, rig: acme.rig, cred: acme.cred}, e.rigAgent(acme, "press-0", "agent-0", map[string]string{"line": "a"})}

	// A completed rollout of every zema-testrig rig.
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel110, SoakS: 1, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	for _, m := range first {
		e.checkin(m, "1.1.0", upd("committed", "1.1.0", "", ""))
	}
	require.Equal(t, []string{fmt.Sprintf("%d:completed:0", ro.ID)}, events(tick(t, e.st, time.Now().Add(time.Minute))))

	late := e.rigAgent(acme, "press-1", "agent-1", nil)
	o := e.checkin(late, "1.0.0", nil)
	require.NotNil(t, o, "a rig enrolled after a completed rollout is offered its release")
	assert.Equal(t, cloudapi.Offer{Target: rel110, Version: "1.1.0", Rollout: ro.ID}, *o)
	got := e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, 3, got.Agents)
	assert.Equal(t, 3, got.Cohorts[0].Size, "the last cohort counts the joiner")
	assert.Equal(t, 1, got.Counts[rolloutapi.AgentOffered])
	e.checkin(late, "1.1.0", upd("committed", "1.1.0", "", ""))
	assert.Equal(t, 3, e.rollout(acme.viewer, ro.ID).Counts[rolloutapi.AgentCommitted], "joined once, then observed as any member")

	// A running rollout of line a, its last cohort not started: a rig
	// labelled line a later joins it pending, and is offered when the last
	// cohort starts; a rig of line b is not added.
	more := []member{e.rigAgent(acme, "press-2", "agent-2", map[string]string{"line": "a"}), e.rigAgent(acme, "press-3", "agent-3", map[string]string{"line": "a"})}
	r = e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, SoakS: 1,
		Selection: rolloutapi.Selection{Labels: map[string]string{"line": "a"}}, Cohorts: []rolloutapi.CohortSpec{{Agents: 1}, {Percent: 100}}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ra rolloutapi.Rollout
	r.decode(t, &ra)
	require.Equal(t, 3, ra.Agents)
	lineB := e.rigAgent(acme, "press-4", "agent-4", map[string]string{"line": "b"})
	o = e.checkin(lineB, "1.0.0", nil)
	require.NotNil(t, o, "line b is described by the completed rollout only")
	assert.Equal(t, rel110, o.Target)
	r = e.do("PUT", "/v1/rigs/press-1/labels", acme.operator, rolloutapi.LabelsRequest{Labels: map[string]string{"line": "a"}})
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.Nil(t, e.checkin(late, "1.1.0", nil), "joined the running rollout's pending last cohort: nothing offered yet")
	ra = e.rollout(acme.viewer, ra.ID)
	assert.Equal(t, 4, ra.Agents)
	assert.Equal(t, 3, ra.Cohorts[1].Size)
	for _, a := range ra.AgentStates {
		if a.AgentID == late.agent {
			assert.Equal(t, 1, a.Cohort)
			assert.Equal(t, rolloutapi.AgentPending, a.State)
		}
	}
	lineA := append([]member{first[1]}, more...)
	commitAll := func() {
		for _, m := range lineA {
			e.checkin(m, "1.2.0", upd("committed", "1.2.0", "", "")) // moves the offered ones only
		}
	}
	commitAll()
	require.Equal(t, []string{fmt.Sprintf("%d:advanced:1", ra.ID)}, events(tick(t, e.st, time.Now().Add(time.Minute))))
	o = e.checkin(late, "1.1.0", nil)
	require.NotNil(t, o, "offered with its cohort")
	assert.Equal(t, rel120, o.Target)
	commitAll()
	assert.Empty(t, events(tick(t, e.st, time.Now().Add(time.Hour))), "the last cohort waits for the joiner's success (2 of 3 < 0.9)")
	e.checkin(late, "1.2.0", upd("committed", "1.2.0", "", ""))
	assert.Equal(t, []string{fmt.Sprintf("%d:completed:1", ra.ID)}, events(tick(t, e.st, time.Now().Add(time.Hour))))

	// An aborted newer rollout does not hide the completed one from new rigs.
	r = e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel120, Selection: rolloutapi.Selection{Rigs: []string{"press-4"}}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ab rolloutapi.Rollout
	r.decode(t, &ab)
	e.act(acme.operator, ab.ID, store.ActionAbort, 200)
	fresh := e.rigAgent(acme, "press-5", "agent-5", nil)
	o = e.checkin(fresh, "1.0.0", nil)
	require.NotNil(t, o)
	assert.Equal(t, cloudapi.Offer{Target: rel110, Version: "1.1.0", Rollout: ro.ID}, *o)
	assert.Nil(t, e.checkin(lineB, "1.1.0", nil), "a member of the newer, aborted rollout is not moved")
}

// An agent id revoked and enrolled again on a rig of another type is not
// offered the release of the rollout that selected it on its old rig,
// and its check-ins no longer move that rollout (found by a review).
func TestRolloutAgentMovedToAnotherRig(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	acme := e.tenant("acme")
	m := e.rigAgent(acme, "press-0", "agent-0", nil)
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel110, SoakS: 1, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	require.NotNil(t, e.checkin(m, "1.0.0", nil), "offered on its rig")

	r = e.do("POST", "/v1/agents/agent-0/revoke", acme.operator, nil)
	require.Equal(t, 204, r.code, "%s", r.body)
	moved := e.skabAgent(acme, "valve-1", "agent-0")

	req := cloudapi.CheckinRequest{AgentID: "agent-0", RigID: "valve-1", RigType: "skab-testbed", Time: time.Now().UTC(),
		Model: &diag.ModelRef{Version: "0.9.0"}, Update: upd("failed", "0.9.0", rel110, "not for this rig")}
	r = e.gz(cloudapi.PathCheckin, moved.cred, req)
	require.Equal(t, 200, r.code, "%s", r.body)
	resp, err := cloudapi.DecodeCheckinResponse(r.body)
	require.NoError(t, err)
	assert.Nil(t, resp.Offer, "the zema-testrig release is not offered to the skab-testbed rig")
	got := e.rollout(acme.viewer, ro.ID)
	assert.Zero(t, got.Counts[rolloutapi.AgentFailed], "the new rig's report is not counted in the old rig's rollout")
}
