package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// A rollout's status names each agent's last check-in (absent: never),
// so that an agent stuck in a state because it stopped checking in (its
// process gone) shows apart from one that is slow.
func TestRolloutShowsLastCheckin(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	target := e.publish(tr, e.releaseToken(), testBundle(t, "1.0.0"))
	seen, never := e.skabAgent(acme, "skab-a", "agent-seen"), e.skabAgent(acme, "skab-b", "agent-never")
	before := time.Now()
	e.checkinFormats(seen, "0.9.0", nil, &cloudapi.BundleFormats{Min: 1, Max: 2})
	after := time.Now()
	ro := e.skabRollout(acme, target)
	r := e.do("GET", fmt.Sprintf("/v1/rollouts/%d", ro.ID), acme.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &ro)
	require.Len(t, ro.AgentStates, 2)
	got := memberState(ro, seen.agent).LastCheckinAt
	require.NotNil(t, got, "%s", r.body)
	assert.False(t, got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)),
		"last check-in %s, made between %s and %s", got, before, after)
	assert.Nil(t, memberState(ro, never.agent).LastCheckinAt, "never checked in")
	assert.NotContains(t, string(r.body), `"last_checkin_at":null`)
}
