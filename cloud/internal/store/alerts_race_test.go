package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// A backlog batch that races a resolve does not open a new alert for
// windows that ended before it. Driven step by step: a third session
// holds the alert's row, so that the resolve waits inside its change;
// the batch starts while the resolve is not committed (the old code's
// statement then saw the alert open, waited for its row and, once it was
// resolved, inserted a new alert opened before the resolve); the row is
// let go and both finish.
func TestBacklogRacingResolveDoesNotReopen(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	t1 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ingestOK(t, st, p, alertItem(5, t1, diag.SeverityHigh))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	id := as[0].ID

	hold, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer hold.Rollback(ctx) //nolint:errcheck
	_, err = hold.Exec(ctx, `SELECT 1 FROM alerts WHERE id = $1 FOR UPDATE`, id)
	require.NoError(t, err)

	resolved := make(chan error, 1)
	go func() {
		_, err := st.SetAlertState(ctx, p.OrgID, id, store.AlertResolved, 0)
		resolved <- err
	}()
	waitForLockWaiters(t, pool, 1) // the resolve, on the held row
	ingested := make(chan error, 1)
	go func() {
		_, err := st.IngestDiagnoses(ctx, p, []cloudapi.DecodedItem{alertItem(2, t1.Add(-2*time.Minute), diag.SeverityHigh)})
		ingested <- err
	}()
	waitForLockWaiters(t, pool, 2) // and the batch
	require.NoError(t, hold.Commit(ctx))
	require.NoError(t, <-resolved)
	require.NoError(t, <-ingested)

	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1, "the backlog opened a new alert: %+v", as)
	assert.Equal(t, store.AlertResolved, as[0].State)
}

// waitForLockWaiters waits until n sessions of the test's database wait
// for a lock (of any kind).
func waitForLockWaiters(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	var got int
	for range 1000 {
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&got))
		if got >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%d sessions wait for a lock, want %d", got, n)
}
