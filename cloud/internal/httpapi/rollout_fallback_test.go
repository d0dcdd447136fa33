package httpapi_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// When the selected agents serve no release of the repository (they run
// the bundle they were installed with), the default previous release is
// the newest older one, which they never ran and so refuse on rollback:
// the 201 answer warns (found by review r11, F3). A previous they serve,
// or one named, carries no warning; GET does not repeat it.
func TestRolloutFallbackPreviousWarns(t *testing.T) {
	cat := testCatalog()
	e := newEnv(t, httpapi.Options{Catalog: cat})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	serve := func(version, digest string) {
		e.offer(m, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
			Model: &diag.ModelRef{Version: version, Digest: digest}})
	}
	create := func(req rolloutapi.CreateRequest) rolloutapi.Rollout {
		t.Helper()
		r := e.do("POST", "/v1/rollouts", acme.operator, req)
		require.Equal(t, 201, r.code, "%s", r.body)
		var ro rolloutapi.Rollout
		r.decode(t, &ro)
		return ro
	}

	serve("0.9.0", "sha256:ffff")
	ro := create(rolloutapi.CreateRequest{Release: rel120})
	require.NotNil(t, ro.Previous)
	assert.Equal(t, rel110, ro.Previous.Target)
	require.Len(t, ro.Warnings, 1)
	assert.Contains(t, ro.Warnings[0], "previous release "+rel110+" (version 1.1.0) is a fallback: the selected agents serve no older release of the repository")
	assert.Contains(t, ro.Warnings[0], "refuse to roll back to it")
	assert.Contains(t, ro.Warnings[0], "--previous")
	assert.Empty(t, e.rollout(acme.operator, ro.ID).Warnings, "said once, at creation")
	e.act(acme.operator, ro.ID, store.ActionAbort, 200)

	// Named: no warning.
	ro = create(rolloutapi.CreateRequest{Release: rel120, Previous: rel100})
	assert.Equal(t, rel100, ro.Previous.Target)
	assert.Empty(t, ro.Warnings)
	e.act(acme.operator, ro.ID, store.ActionAbort, 200)

	// Served: no warning.
	serve("1.0.0", cat.Targets[rel100].ManifestDigest)
	ro = create(rolloutapi.CreateRequest{Release: rel120})
	assert.Equal(t, rel100, ro.Previous.Target)
	assert.Empty(t, ro.Warnings)
	e.act(acme.operator, ro.ID, store.ActionAbort, 200)

	// No older release at all: no previous, nothing to warn of.
	serve("0.9.0", "sha256:ffff")
	ro = create(rolloutapi.CreateRequest{Release: rel100})
	assert.Nil(t, ro.Previous)
	assert.Empty(t, ro.Warnings)
}
