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
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// The previous release a rollout's rollback offers, when the request
// names none, is what the selected agents serve, not merely the newest
// older release in the repository, which may be a prerelease or a
// release whose rollout halted (found by review r4, F4: a rollback
// offered the known-bad 1.1.0 that was never deployed). Agents serving
// several older releases make it ambiguous: 422 asking for previous.
func TestRolloutDefaultPrevious(t *testing.T) {
	cat := testCatalog()
	for v, d := range map[string]string{"1.2.0-rc1": "sha256:bb01", "1.3.0": "sha256:cc01"} {
		tg := *cat.Targets[rel110]
		tg.Version, tg.ManifestDigest = v, d
		cat.Targets[tg.Path()] = &tg
	}
	const relRC, rel130 = "zema-testrig/zema-testrig-1.2.0-rc1.tar.gz", "zema-testrig/zema-testrig-1.3.0.tar.gz"
	require.Contains(t, cat.Targets, relRC)
	e := newEnv(t, httpapi.Options{Catalog: cat})
	acme, other := e.tenant("acme"), e.tenant("other")
	ms := []member{{agent: acme.agent, rig: acme.rig, cred: acme.cred},
		e.rigAgent(acme, "press-1", "agent-1", nil), e.rigAgent(acme, "press-2", "agent-2", nil)}
	serve := func(m member, version, digest string) *cloudapi.Offer {
		return e.offer(m, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
			Model: &diag.ModelRef{Version: version, Digest: digest}})
	}
	create := func(token string, req rolloutapi.CreateRequest, code int) (rolloutapi.Rollout, string) {
		t.Helper()
		r := e.do("POST", "/v1/rollouts", token, req)
		require.Equal(t, code, r.code, "%s", r.body)
		var ro rolloutapi.Rollout
		if code != 201 {
			return ro, r.problem(t).Detail
		}
		r.decode(t, &ro)
		return ro, ""
	}
	d := func(path string) string { return cat.Targets[path].ManifestDigest }

	t.Run("what the agents serve", func(t *testing.T) {
		for _, m := range ms {
			serve(m, "1.0.0", d(rel100))
		}
		ro, _ := create(acme.operator, rolloutapi.CreateRequest{Release: rel120}, 201)
		require.NotNil(t, ro.Previous)
		assert.Equal(t, rolloutapi.Release{Target: rel100, Version: "1.0.0", BundleFormat: 1, ManifestDigest: d(rel100),
			ConfigDigest: cat.Targets[rel100].ConfigDigest}, *ro.Previous,
			"1.0.0, served, not 1.1.0 (newest older)")
		e.act(acme.operator, ro.ID, store.ActionAbort, 200)
	})

	t.Run("agents serving several older releases", func(t *testing.T) {
		serve(ms[0], "1.1.0", d(rel110))
		_, why := create(acme.operator, rolloutapi.CreateRequest{Release: rel130}, 422)
		assert.Contains(t, why, "the selected agents serve 2 older releases ("+rel100+" (2 agents), "+rel110+" (1 agents))")
		assert.Contains(t, why, "--previous")
		ro, _ := create(acme.operator, rolloutapi.CreateRequest{Release: rel130, Previous: rel110}, 201)
		assert.Equal(t, rel110, ro.Previous.Target)
		e.act(acme.operator, ro.ID, store.ActionAbort, 200)
		// Narrowed to the agents on one release: that one.
		ro, _ = create(acme.operator, rolloutapi.CreateRequest{Release: rel130, Selection: rolloutapi.Selection{Rigs: []string{ms[1].rig, ms[2].rig}}}, 201)
		assert.Equal(t, rel100, ro.Previous.Target)
		e.act(acme.operator, ro.ID, store.ActionAbort, 200)
	})

	t.Run("none served: no prerelease, no halted release", func(t *testing.T) {
		// other's agent serves the bundle it was installed with, not in
		// the repository.
		m := member{agent: other.agent, rig: other.rig, cred: other.cred}
		serve(m, "0.9.0", "sha256:ffff")
		bad, _ := create(other.operator, rolloutapi.CreateRequest{Release: rel120, FailureThreshold: 0.5}, 201)
		require.NotNil(t, bad.Previous)
		assert.Equal(t, rel110, bad.Previous.Target, "1.2.0-rc1 is a prerelease")
		failed := upd("failed", "0.9.0", rel120, "canary of "+rel120+": agreement 0.41 below 0.9")
		e.offer(m, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
			Model: &diag.ModelRef{Version: "0.9.0", Digest: "sha256:ffff"}, Update: failed})
		assert.Equal(t, []string{fmt.Sprintf("%d:halted:0", bad.ID)}, events(tick(t, e.st, time.Now())))
		e.act(other.operator, bad.ID, store.ActionAbort, 200)
		ro, _ := create(other.operator, rolloutapi.CreateRequest{Release: rel130}, 201)
		require.NotNil(t, ro.Previous)
		assert.Equal(t, rel110, ro.Previous.Target, "1.2.0 halted (then aborted), 1.2.0-rc1 is a prerelease")
		e.act(other.operator, ro.ID, store.ActionAbort, 200)
		// acme's rollouts of 1.2.0 did not halt: other's halt is other's.
		serve(ms[1], "0.9.0", "sha256:ffff")
		ro, _ = create(acme.operator, rolloutapi.CreateRequest{Release: rel130, Selection: rolloutapi.Selection{Rigs: []string{ms[1].rig}}}, 201)
		assert.Equal(t, rel120, ro.Previous.Target)
		e.act(acme.operator, ro.ID, store.ActionAbort, 200)
	})
}

// A rollout of a release older than what selected agents serve is
// refused (422) unless an admin sets allow_downgrade (found by review r4,
// F1: any older release could be rolled out with no check).
func TestRolloutRefusesDowngrade(t *testing.T) {
	e := newEnv(t, httpapi.Options{Catalog: testCatalog()})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	e.checkin(m, "1.1.0", upd("idle", "1.1.0", "", ""))
	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel100})
	require.Equal(t, 422, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, `release "`+rel100+`" (version 1.0.0) is older than what 1 selected agents serve (1.1.0 (1 agents)): the rollout would downgrade them`)
	r = e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel100, AllowDowngrade: true})
	require.Equal(t, 403, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "allow_downgrade needs role admin")
	r = e.do("POST", "/v1/rollouts", acme.admin, rolloutapi.CreateRequest{Release: rel100, AllowDowngrade: true})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	assert.Nil(t, ro.Previous, "no release older than 1.0.0")
	e.act(acme.admin, ro.ID, store.ActionAbort, 200)
	// The same version (another bundle, a build) is no downgrade.
	r = e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: rel110})
	require.Equal(t, 201, r.code, "%s", r.body)
}

func TestPrerelease(t *testing.T) {
	for v, want := range map[string]bool{"1.2.0-rc1": true, "v1.2.0-0": true, "1.2.0": false, "1.2.0+b1": false, "1.2": false, "x": false} {
		assert.Equal(t, want, release.Prerelease(v), v)
	}
}
