package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// resolvedAlert checks agent p in at agentNow (its clock's reading now),
// opens an alert and resolves it; it returns the resolve time.
func resolvedAlert(t *testing.T, st *store.Store, p *store.Principal, agentNow time.Time) time.Time {
	t.Helper()
	ctx := context.Background()
	_, err := st.Checkin(ctx, p.Agent.ID, map[string]any{"agent_id": p.Agent.Name}, agentNow)
	require.NoError(t, err)
	ingestOK(t, st, p, alertItem(1, time.Now().UTC().Add(-10*time.Minute), diag.SeverityHigh))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	resolved, err := st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertResolved, 0)
	require.NoError(t, err)
	return *resolved.ResolvedAt
}

// The skew is taken against the database's clock, the clock resolved_at
// is stamped with, not the API process's: an API clock an hour ahead
// neither records an hour's skew for an agent with a right clock nor lets
// that agent's backlog from before the resolve open the alert again.
func TestCheckinSkewUsesDatabaseClock(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	store.SetNow(st, func() time.Time { return time.Now().Add(time.Hour) })
	r := resolvedAlert(t, st, p, time.Now().UTC())
	var skew int64
	require.NoError(t, pool.QueryRow(context.Background(),
		`SELECT clock_skew_ms FROM agents WHERE id = $1`, p.Agent.ID).Scan(&skew))
	assert.Less(t, abs64(skew), int64(5000), "skew against the API clock: %d ms", skew)

	ingestOK(t, st, p, alertItem(2, r.Add(-time.Minute), diag.SeverityCritical))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1, "backlog from before the resolve opened the alert again: %+v", as)
}

// A skew under a few seconds is the check-in's transit time, not the
// clock's, and counts as 0: an anomaly a second after the resolve opens
// a new alert although the agent's clock read 3 s ahead at its check-in.
func TestResolvedAlertFilterIgnoresSmallSkew(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	r := resolvedAlert(t, st, p, time.Now().UTC().Add(3*time.Second))
	ingestOK(t, st, p, alertItem(2, r.Add(time.Second), diag.SeverityCritical))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 2, "anomaly after the resolve dropped for a transit-sized skew: %+v", as)
	assert.Equal(t, store.AlertOpen, as[1].State)
}

// A skew from a check-in over an hour old counts as 0 (the agent's clock
// may have been stepped since): an agent recorded 30 min behind two hours
// ago, whose clock NTP has fixed since, still opens an alert for an
// anomaly after the resolve.
func TestResolvedAlertFilterIgnoresStaleSkew(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	r := resolvedAlert(t, st, p, time.Now().UTC().Add(30*time.Minute))
	_, err := pool.Exec(context.Background(),
		`UPDATE agents SET last_checkin_at = now() - interval '2 hours' WHERE id = $1`, p.Agent.ID)
	require.NoError(t, err)
	ingestOK(t, st, p, alertItem(2, r.Add(time.Minute), diag.SeverityCritical))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 2, "anomaly after the resolve dropped for a stale skew: %+v", as)
}

// A skew that put the agent's clock before 2000 (an unset clock, clamped
// by the agent) counts as 0: once NTP fixes the clock, the agent's backlog
// from before the resolve does not open the alert again.
func TestResolvedAlertFilterIgnoresUnsetClockSkew(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	r := resolvedAlert(t, st, p, time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC))
	ingestOK(t, st, p, alertItem(2, r.Add(-time.Minute), diag.SeverityCritical))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1, "backlog from before the resolve opened the alert again: %+v", as)
	assert.Equal(t, store.AlertResolved, as[0].State)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
