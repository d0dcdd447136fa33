package rollout

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// An agent counts as committed when the model it serves is the release's
// bundle (its manifest digest), not merely at the release's version
// (found by review r4, F3: another bundle at the same version counted as
// committed, so a rollout completed with no agent installing it).
func TestObserveJudgesTheBundle(t *testing.T) {
	const (
		dOld   = "sha256:1111"
		dOther = "sha256:2222" // skab-testbed 1.1.0, not the release
		dRel   = "sha256:3333" // skab-testbed-int8only 1.1.0
		dBuild = "sha256:4444" // skab-testbed 1.1.0+retrain2
	)
	rel := rolloutapi.Release{Target: "skab-testbed/skab-testbed-int8only-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 1, ManifestDigest: dRel}
	build := rolloutapi.Release{Target: "skab-testbed/skab-testbed-1.1.0+retrain2.tar.gz", Version: "1.1.0+retrain2", BundleFormat: 1, ManifestDigest: dBuild}
	prev := rolloutapi.Release{Target: "skab-testbed/skab-testbed-1.0.0.tar.gz", Version: "1.0.0", BundleFormat: 1, ManifestDigest: dOld}
	serving := func(version, digest string) *cloudapi.CheckinRequest {
		return &cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: version, Digest: digest},
			Update: &cloudapi.UpdateStatus{State: "idle", Installed: version, Rollout: 2}}
	}
	for _, c := range []struct {
		name string
		prev rolloutapi.AgentState
		rel  rolloutapi.Release
		back *rolloutapi.Release
		req  *cloudapi.CheckinRequest
		want rolloutapi.AgentState
	}{
		{"another bundle at the release's version", rolloutapi.AgentOffered, rel, nil, serving("1.1.0", dOther), rolloutapi.AgentOffered},
		{"the release's bundle", rolloutapi.AgentOffered, rel, nil, serving("1.1.0", dRel), rolloutapi.AgentCommitted},
		{"a committed agent now serving another bundle at the version", rolloutapi.AgentCommitted, rel, nil, serving("1.1.0", dOther), rolloutapi.AgentRolledBack},
		{"a build of the served version, not yet installed", rolloutapi.AgentOffered, build, nil, serving("1.1.0", dOther), rolloutapi.AgentOffered},
		{"a build of the served version, installed", rolloutapi.AgentOffered, build, nil, serving("1.1.0+retrain2", dBuild), rolloutapi.AgentCommitted},
		{"no digest reported: the version decides", rolloutapi.AgentOffered, rel, nil, serving("1.1.0", ""), rolloutapi.AgentCommitted},
		{"no digest recorded: the version decides", rolloutapi.AgentOffered, rolloutapi.Release{Target: rel.Target, Version: "1.1.0"}, nil, serving("1.1.0", dOther), rolloutapi.AgentCommitted},
		{"rolled back to the previous bundle", rolloutapi.AgentCommitted, rel, &prev, serving("1.0.0", dOld), rolloutapi.AgentRolledBack},
		{"rolled back: another bundle at the previous version is not it", rolloutapi.AgentOffered, rel, &prev, serving("1.0.0", "sha256:5555"), rolloutapi.AgentOffered},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Observe(c.prev, 2, c.rel, c.back, c.req)
			assert.Equal(t, c.want, got.State)
		})
	}
}

func TestServes(t *testing.T) {
	rel := rolloutapi.Release{Version: "1.1.0", ManifestDigest: "sha256:3333"}
	assert.True(t, Serves(&cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: "1.1.0", Digest: "sha256:3333"}}, rel))
	assert.False(t, Serves(&cloudapi.CheckinRequest{Model: &diag.ModelRef{Version: "1.1.0", Digest: "sha256:2222"}}, rel))
	assert.True(t, Serves(&cloudapi.CheckinRequest{Update: &cloudapi.UpdateStatus{Installed: "1.1.0"}}, rel), "no model reported: the update's installed version")
	assert.False(t, Serves(&cloudapi.CheckinRequest{}, rel), "nothing reported")
	assert.False(t, Serves(&cloudapi.CheckinRequest{}, rolloutapi.Release{}), "nothing reported, nothing recorded")
}
