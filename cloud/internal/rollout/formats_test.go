package rollout

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

func TestIncompatible(t *testing.T) {
	v2 := rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 2}
	v1 := v2
	v1.BundleFormat = 1
	old := (&cloudapi.CheckinRequest{}).Formats()
	assert.Equal(t, "agent reads bundle formats 1..1, release is format 2", Incompatible(old, v2))
	assert.Empty(t, Incompatible(old, v1))
	assert.Empty(t, Incompatible(cloudapi.BundleFormats{Min: 1, Max: 2}, v2))
	assert.Empty(t, Incompatible(cloudapi.BundleFormats{Min: 1, Max: 2}, v1))
	assert.NotEmpty(t, Incompatible(cloudapi.BundleFormats{Min: 2, Max: 3}, v1), "an agent that no longer reads format 1")
}

// Incompatible agents are left out of the thresholds: they neither fail
// a cohort nor keep it from succeeding.
func TestDecideIncompatible(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	c := func(size, incompatible, failed, ok int) CohortStatus {
		return CohortStatus{Index: 0, Size: size, Soak: time.Hour, State: rolloutapi.CohortSoaking, StartedAt: t0,
			Incompatible: incompatible, Failed: failed, Succeeded: ok}
	}
	// 10 agents, 4 incompatible: 6 committed are all of the compatible.
	d := Decide([]CohortStatus{c(10, 4, 0, 6)}, true, 0.9, 0.1, t0.Add(time.Hour))
	assert.True(t, d.Advance && d.Complete, "%+v", d)
	assert.Contains(t, d.Reason, "6 of 6 compatible agents (4 more incompatible: they do not read the release's bundle format or it does not fit them, not counted)")
	// Without the rule the 4 kept it below 0.9.
	assert.False(t, Decide([]CohortStatus{c(10, 0, 0, 6)}, true, 0.9, 0.1, t0.Add(time.Hour)).Advance)
	// All incompatible: done after the soak, not before.
	assert.Equal(t, Decision{}, Decide([]CohortStatus{c(3, 3, 0, 0)}, false, 0.9, 0.1, t0))
	d = Decide([]CohortStatus{c(3, 3, 0, 0)}, false, 0.9, 0.1, t0.Add(time.Hour))
	assert.True(t, d.Advance && !d.Halt, "%+v", d)
	// A failure is a share of the compatible agents.
	d = Decide([]CohortStatus{c(10, 8, 1, 0)}, false, 0.9, 0.5, t0)
	assert.True(t, d.Halt, "1 of 2 compatible failed: 0.5")
	assert.Contains(t, d.Reason, "1 of 2 compatible agents")
}
