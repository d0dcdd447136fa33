package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two agents of a rig reporting the same window start: the rig's
// last_diagnosis is the one last in the primary key's order (the higher
// agent id, then seq), whichever arrived first, every time.
func TestRigStatusLastDiagnosisTieBreak(t *testing.T) {
	t.Parallel()
	_, st, p1 := agentStore(t)
	ctx := context.Background()
	p2 := enrollAgent(t, st, p1.OrgID, "agent-2")
	require.Greater(t, p2.Agent.ID, p1.Agent.ID)

	// The later agent's first, then the earlier agent's, same window.
	it2 := items(7, 1)
	it2[0].Diagnosis.AgentID = "agent-2"
	_, err := st.IngestDiagnoses(ctx, p2, it2)
	require.NoError(t, err)
	_, err = st.IngestDiagnoses(ctx, p1, items(7, 1))
	require.NoError(t, err)

	for range 5 {
		s, err := st.RigStatus(ctx, p1.OrgID, "press-1", 5*time.Minute)
		require.NoError(t, err)
		require.NotNil(t, s.LastDiagnosis)
		assert.Equal(t, "agent-2", s.LastDiagnosis.AgentID)
	}
}
