package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// A rollout counts an agent as committed when the model it serves is the
// release's bundle (check-in model.digest = the release's signed
// manifest_digest), not when it merely serves the release's version
// (found by review r4, F3: an agent serving zema-testrig 1.1.0 counted as
// committed in a rollout of zema-testrig-int8 1.1.0, which it never
// installed, and the rollout completed).
func TestRolloutCommittedByBundle(t *testing.T) {
	cat := testCatalog()
	int8 := release.Target{FormatVersion: 1, Bundle: "zema-testrig-int8", Version: "1.1.0", RigType: "zema-testrig",
		ConfigDigest: cat.Targets[rel110].ConfigDigest, ManifestDigest: "sha256:aa01"} // another bundle for the same firmware config
	cat.Targets[int8.Path()] = &int8
	e := newEnv(t, httpapi.Options{Catalog: cat})
	acme := e.tenant("acme")
	m := member{agent: acme.agent, rig: acme.rig, cred: acme.cred}
	serving := func(digest string) *cloudapi.Offer {
		return e.offer(m, cloudapi.CheckinRequest{AgentID: m.agent, RigID: m.rig, RigType: "zema-testrig", Time: time.Now().UTC(),
			Model:  &diag.ModelRef{Version: "1.1.0", Digest: digest},
			Update: &cloudapi.UpdateStatus{State: "idle", Installed: "1.1.0", Changed: time.Now().UTC()}})
	}
	serving(cat.Targets[rel110].ManifestDigest)

	r := e.do("POST", "/v1/rollouts", acme.operator, rolloutapi.CreateRequest{Release: int8.Path(), Previous: rel100,
		SoakS: 1, Cohorts: []rolloutapi.CohortSpec{{Percent: 100}}})
	require.Equal(t, 201, r.code, "%s", r.body)
	var ro rolloutapi.Rollout
	r.decode(t, &ro)
	assert.Equal(t, "sha256:aa01", ro.Release.ManifestDigest)
	require.NotNil(t, ro.Previous)
	assert.Equal(t, cat.Targets[rel100].ManifestDigest, ro.Previous.ManifestDigest)

	// zema-testrig 1.1.0 is served: the release is offered, not committed.
	o := serving(cat.Targets[rel110].ManifestDigest)
	require.NotNil(t, o)
	assert.Equal(t, int8.Path(), o.Target)
	got := e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.AgentOffered, got.AgentStates[0].State)
	later := time.Now().Add(time.Hour)
	assert.Empty(t, events(tick(t, e.st, later)), "nothing committed: the rollout does not complete")
	assert.Equal(t, rolloutapi.Running, e.rollout(acme.viewer, ro.ID).State)

	// The release's bundle is served: committed, and the rollout completes.
	serving("sha256:aa01")
	got = e.rollout(acme.viewer, ro.ID)
	assert.Equal(t, rolloutapi.AgentCommitted, got.AgentStates[0].State)
	assert.Equal(t, []string{fmt.Sprintf("%d:completed:0", ro.ID)}, events(tick(t, e.st, later.Add(time.Hour))))
}
