package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// last_checkin_at is the database's clock, as resolved_at and the skew
// are: with the API process's clock two hours behind, the check-in is
// stamped now (not two hours ago), so the resolved-alert filter takes the
// agent's fresh 30-minute skew and the agent's backlog from before the
// resolve (20 minutes after it by the agent's fast clock) does not open
// the alert again.
func TestCheckinStampedWithDatabaseClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, st, p := agentStore(t)
	store.SetNow(st, func() time.Time { return time.Now().Add(-2 * time.Hour) })
	r := resolvedAlert(t, st, p, time.Now().UTC().Add(30*time.Minute))
	var lag time.Duration
	require.NoError(t, pool.QueryRow(ctx, `SELECT now() - last_checkin_at FROM agents WHERE id = $1`, p.Agent.ID).Scan(&lag))
	assert.Less(t, lag.Abs(), 5*time.Second, "last_checkin_at is %s off the database's clock", lag)

	ingestOK(t, st, p, alertItem(2, r.Add(20*time.Minute), diag.SeverityCritical))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1, "backlog from before the resolve opened the alert again: %+v", as)
	assert.Equal(t, store.AlertResolved, as[0].State)

	got, err := st.Checkin(ctx, p.Agent.ID, map[string]any{"agent_id": p.Agent.Name}, time.Now())
	require.NoError(t, err)
	var stamped time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT last_checkin_at FROM agents WHERE id = $1`, p.Agent.ID).Scan(&stamped))
	assert.True(t, got.At.Equal(stamped), "Checkin answered %s, stamped %s", got.At, stamped)
}

// A rig's status judges an agent online against the clock its check-in
// was stamped with: an API clock two hours ahead does not show an agent
// that just checked in offline.
func TestRigStatusOnlineInDatabaseClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, st, p := agentStore(t)
	_, err := st.Checkin(ctx, p.Agent.ID, map[string]any{"agent_id": p.Agent.Name}, time.Now())
	require.NoError(t, err)
	store.SetNow(st, func() time.Time { return time.Now().Add(2 * time.Hour) })
	rs, err := st.RigStatus(ctx, p.OrgID, p.Agent.RigName, time.Minute)
	require.NoError(t, err)
	require.Len(t, rs.Agents, 1)
	assert.Equal(t, fleetapi.LinkOnline, rs.Agents[0].Link)
}

// A body that does not encode is refused naming the agent, before
// anything is stored.
func TestCheckinBodyEncodeError(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, st, p := agentStore(t)
	_, err := st.Checkin(ctx, p.Agent.ID, map[string]any{"agent_id": make(chan int)}, time.Now())
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("record check-in of agent %d: encode body: ", p.Agent.ID))
	var uerr *json.UnsupportedTypeError
	assert.ErrorAs(t, err, &uerr)
}
