package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// A rig's last_seen is its agents' latest contact as rig-cloud recorded
// it: the later of the last check-in and the arrival of the newest
// diagnosis by sequence number, not the arrival of the newest diagnosis
// by window start. Here the agent's clock ran ahead once (seq 1's window
// is a year later than seq 2's): seq 1 stays the newest window, yet seq
// 2 arrived since.
func TestRigStatusLastSeenIsLatestContact(t *testing.T) {
	pool, st, p := agentStore(t)
	ctx := context.Background()

	batch := items(1, 2)
	ahead := batch[0].Diagnosis.Window.Start.AddDate(1, 0, 0)
	batch[0].Diagnosis.Window.Start, batch[0].Diagnosis.Window.End = ahead, ahead.Add(time.Minute)
	_, err := st.IngestDiagnoses(ctx, p, batch)
	require.NoError(t, err)

	now := time.Now().UTC().Truncate(time.Microsecond)
	early, late := now.Add(-10*24*time.Hour), now.Add(-time.Hour)
	for _, q := range []string{`UPDATE diagnosis_keys SET received_at = $2 WHERE agent_id = $1 AND seq = $3`,
		`UPDATE diagnoses SET received_at = $2 WHERE agent_id = $1 AND seq = $3`} {
		_, err := pool.Exec(ctx, q, p.Agent.ID, early, 1)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, q, p.Agent.ID, late, 2)
		require.NoError(t, err)
	}

	status := func() *store.RigStatus {
		t.Helper()
		s, err := st.RigStatus(ctx, p.OrgID, "press-1", 5*time.Minute)
		require.NoError(t, err)
		return s
	}
	s := status()
	require.NotNil(t, s.LastDiagnosis)
	require.EqualValues(t, 1, s.LastDiagnosis.Seq, "the newest window")
	require.NotNil(t, s.LastSeen)
	require.True(t, s.LastSeen.Equal(late), "last_seen %s, want the arrival of seq 2 %s (not seq 1's %s)", s.LastSeen, late, early)

	// A check-in after the last diagnosis: the agent is alive.
	checkin := now.Add(-time.Minute)
	_, err = pool.Exec(ctx, `UPDATE agents SET last_checkin_at = $2 WHERE id = $1`, p.Agent.ID, checkin)
	require.NoError(t, err)
	s = status()
	require.True(t, s.LastSeen.Equal(checkin), "last_seen %s, want the check-in %s", s.LastSeen, checkin)

	// A check-in before it: the diagnosis' arrival is the latest contact.
	_, err = pool.Exec(ctx, `UPDATE agents SET last_checkin_at = $2 WHERE id = $1`, p.Agent.ID, early.Add(-time.Hour))
	require.NoError(t, err)
	s = status()
	require.True(t, s.LastSeen.Equal(late), "last_seen %s, want %s", s.LastSeen, late)
}
