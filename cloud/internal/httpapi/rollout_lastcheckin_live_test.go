package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// A rollout member's last check-in is its live identity's: an agent
// re-enrolled whose new process never checks in shows no check-in, not
// the replaced generation's (review r5 finding 6).
func TestRolloutLastCheckinOfCurrentIdentity(t *testing.T) {
	tr := newRepo(t)
	e := newEnv(t, httpapi.Options{Releases: tr.svc})
	acme := e.tenant("acme")
	target := e.publish(tr, e.releaseToken(), testBundle(t, "1.0.0"))
	m := e.skabAgent(acme, "skab-a", "agent-a")
	e.checkinFormats(m, "0.9.0", nil, &cloudapi.BundleFormats{Min: 1, Max: 2})
	ro := e.skabRollout(acme, target)

	// Re-enrolled over its live identity; the new one never checks in.
	var en store.Enrollment
	r := e.do("POST", "/v1/rigs/skab-a/enrollments", acme.operator, fleetapi.EnrollmentRequest{Replace: "agent-a"})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &en)
	r = e.do("POST", "/v1/agent/enroll", en.Token, cloudapi.EnrollRequest{AgentID: "agent-a", RigID: "skab-a"})
	require.Equal(t, 200, r.code, "%s", r.body)

	r = e.do("GET", fmt.Sprintf("/v1/rollouts/%d", ro.ID), acme.operator, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	var got rolloutapi.Rollout // fresh: decoding into ro would keep its members' old fields
	r.decode(t, &got)
	require.Len(t, got.AgentStates, 1)
	assert.Nil(t, memberState(got, "agent-a").LastCheckinAt, "the replaced generation's check-in: %s", r.body)
}
