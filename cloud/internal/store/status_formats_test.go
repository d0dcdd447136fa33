package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// A rig's status shows the bundle manifest formats each agent reported
// at its last check-in (what rollouts judge compatibility by), and none
// for an agent that did not report them.
func TestRigStatusBundleFormats(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()

	_, err := st.Checkin(ctx, p.Agent.ID, cloudapi.CheckinRequest{AgentID: p.Agent.Name, Time: time.Now().UTC()}, time.Now())
	require.NoError(t, err)
	s, err := st.RigStatus(ctx, p.OrgID, "press-1", 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, s.Agents, 1)
	assert.Nil(t, s.Agents[0].BundleFormats, "an agent that reports no formats")

	_, err = st.Checkin(ctx, p.Agent.ID, cloudapi.CheckinRequest{AgentID: p.Agent.Name, Time: time.Now().UTC(),
		BundleFormats: &cloudapi.BundleFormats{Min: 1, Max: 2}}, time.Now())
	require.NoError(t, err)
	s, err = st.RigStatus(ctx, p.OrgID, "press-1", 5*time.Minute)
	require.NoError(t, err)
	require.Len(t, s.Agents, 1)
	assert.Equal(t, &cloudapi.BundleFormats{Min: 1, Max: 2}, s.Agents[0].BundleFormats)
}
