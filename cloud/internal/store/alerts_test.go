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

// alertItem is items' diagnosis seq with its window ending at end and a
// pump leakage anomaly of severity sev.
func alertItem(seq uint64, end time.Time, sev diag.Severity) cloudapi.DecodedItem {
	it := items(seq, 1)[0]
	d := &it.Diagnosis
	d.Window.Start, d.Window.End = end.Add(-time.Minute), end
	d.CreatedAt = end.Add(time.Second)
	d.Anomalies = []diag.Anomaly{{Fault: "leakage", Severity: sev, Confidence: 0.8, Components: []string{"pump"}}}
	return it
}

func ingestOK(t *testing.T, st *store.Store, p *store.Principal, its ...cloudapi.DecodedItem) {
	t.Helper()
	res, err := st.IngestDiagnoses(context.Background(), p, its)
	require.NoError(t, err)
	for i, r := range res {
		require.Equal(t, cloudapi.ItemAccepted, r.Status, "item %d: %+v", i, r.Problem)
	}
}

func allAlerts(t *testing.T, st *store.Store, orgID int64) []store.Alert {
	t.Helper()
	as, err := st.Alerts(context.Background(), orgID, "", 0, 100)
	require.NoError(t, err)
	return as
}

// A later, worse anomaly of the same fault raises the open alert's
// severity; an acknowledged alert that escalates is open again; a milder
// one never lowers it.
func TestAlertSeverityEscalates(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()
	t1 := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)

	ingestOK(t, st, p, alertItem(1, t1, diag.SeverityHigh))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	assert.Equal(t, "high", as[0].Severity)
	_, err := st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertAcknowledged, 0)
	require.NoError(t, err)

	// The same severity counts on the acknowledged alert.
	ingestOK(t, st, p, alertItem(2, t1.Add(time.Minute), diag.SeverityHigh))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	assert.Equal(t, store.AlertAcknowledged, as[0].State)
	assert.Equal(t, 2, as[0].Occurrences)

	// Critical: the alert escalates and is open again.
	ingestOK(t, st, p, alertItem(3, t1.Add(2*time.Minute), diag.SeverityCritical))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	assert.Equal(t, "critical", as[0].Severity)
	assert.Equal(t, store.AlertOpen, as[0].State)
	assert.Nil(t, as[0].AcknowledgedAt)
	assert.Equal(t, 3, as[0].Occurrences)

	// High again: still critical.
	ingestOK(t, st, p, alertItem(4, t1.Add(3*time.Minute), diag.SeverityHigh))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	assert.Equal(t, "critical", as[0].Severity)
	assert.Equal(t, 4, as[0].Occurrences)
}

// Diagnoses delivered after an operator resolved their alert, of windows
// that ended before, do not open it again; a window after does.
func TestResolvedAlertNotReopenedByBacklog(t *testing.T) {
	t.Parallel()
	_, st, p := agentStore(t)
	ctx := context.Background()
	t1 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)

	ingestOK(t, st, p, alertItem(5, t1, diag.SeverityHigh))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)
	resolved, err := st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertResolved, 0)
	require.NoError(t, err)
	require.NotNil(t, resolved.ResolvedAt)

	// The backlog: older seqs, windows before the resolution.
	ingestOK(t, st, p, alertItem(1, t1.Add(-3*time.Minute), diag.SeverityCritical),
		alertItem(2, t1.Add(-2*time.Minute), diag.SeverityHigh), alertItem(6, t1.Add(time.Minute), diag.SeverityHigh))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1, "%+v", as)
	assert.Equal(t, store.AlertResolved, as[0].State)
	assert.Equal(t, 1, as[0].Occurrences)

	// A window that ended after the resolution opens a new alert, counting
	// only the windows after it.
	later := resolved.ResolvedAt.Add(time.Minute)
	ingestOK(t, st, p, alertItem(7, t1.Add(2*time.Minute), diag.SeverityCritical), alertItem(8, later, diag.SeverityHigh))
	as = allAlerts(t, st, p.OrgID)
	require.Len(t, as, 2, "%+v", as)
	assert.Equal(t, store.AlertOpen, as[1].State)
	assert.Equal(t, "high", as[1].Severity)
	assert.Equal(t, 1, as[1].Occurrences)
	assert.True(t, later.Equal(as[1].OpenedAt), "%s", as[1].OpenedAt)
}

// Acknowledging answers the alert as its own change left it: when the
// alert is resolved between the check and the answer, the answer is 409
// (ErrAlertState), never 200 with a resolved alert.
func TestAcknowledgeRacingResolve(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	ingestOK(t, st, p, alertItem(1, time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC), diag.SeverityHigh))
	id := allAlerts(t, st, p.OrgID)[0].ID

	// Hold rigs exclusively: the acknowledgement waits for it where it
	// reads the rig's name (the old code after its UPDATE had committed,
	// the new one before changing anything).
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `LOCK TABLE rigs IN ACCESS EXCLUSIVE MODE`)
	require.NoError(t, err)
	type out struct {
		a   *store.Alert
		err error
	}
	done := make(chan out, 1)
	go func() {
		a, err := st.SetAlertState(ctx, p.OrgID, id, store.AlertAcknowledged, 0)
		done <- out{a, err}
	}()
	waitForLockWait(t, pool)
	// Resolved meanwhile (by another replica, say).
	_, err = tx.Exec(ctx, `UPDATE alerts SET state = 'resolved', resolved_at = now() WHERE id = $1`, id)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))
	o := <-done
	require.ErrorIs(t, o.err, store.ErrAlertState, "answered %+v", o.a)
	assert.Nil(t, o.a)

	// Missing (or another organisation's) is ErrNotFound; resolving a
	// resolved alert changes nothing and answers it.
	_, err = st.SetAlertState(ctx, p.OrgID+1000, id, store.AlertAcknowledged, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.SetAlertState(ctx, p.OrgID, id+1000, store.AlertResolved, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	a, err := st.SetAlertState(ctx, p.OrgID, id, store.AlertResolved, 0)
	require.NoError(t, err)
	assert.Equal(t, store.AlertResolved, a.State)
	assert.Equal(t, "press-1", a.RigID)
}

// waitForLockWait waits until a session of the test's database waits for
// a lock on rigs.
func waitForLockWait(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	for range 500 {
		var n int
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks
			WHERE NOT granted AND relation = 'rigs'::regclass
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n))
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the acknowledgement never waited for the lock on rigs")
}

// The alert list with and without a state filter: each has its index
// (the unfiltered list alerts_org_id), and answers the right alerts.
func TestAlertListIndexes(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	t1 := time.Date(2025, 1, 1, 0, 1, 0, 0, time.UTC)
	var its []cloudapi.DecodedItem
	for i := range 3 {
		it := alertItem(uint64(i+1), t1.Add(time.Duration(i)*time.Minute), diag.SeverityHigh)
		it.Diagnosis.Anomalies[0].Components = []string{[]string{"pump", "cooler", "valve"}[i]}
		its = append(its, it)
	}
	ingestOK(t, st, p, its...)
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 3)
	_, err := st.SetAlertState(ctx, p.OrgID, as[1].ID, store.AlertResolved, 0)
	require.NoError(t, err)

	open, err := st.Alerts(ctx, p.OrgID, store.AlertOpen, 0, 100)
	require.NoError(t, err)
	require.Len(t, open, 2)
	assert.Equal(t, []int64{as[0].ID, as[2].ID}, []int64{open[0].ID, open[1].ID})
	page, err := st.Alerts(ctx, p.OrgID, "", as[0].ID, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
	assert.Equal(t, as[1].ID, page[0].ID)
	assert.Equal(t, store.AlertResolved, page[0].State)

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_indexes WHERE tablename = 'alerts'
		AND indexdef LIKE '%(org_id, id)'`).Scan(&n))
	assert.Equal(t, 1, n, "an index of alerts on (org_id, id)")
}

// A diagnosis whose window starts more than the bound after the cloud's
// clock is a rejected item (pointer window/start) and makes no partition;
// one within it is accepted.
func TestIngestRefusesFarFutureWindows(t *testing.T) {
	t.Parallel()
	pool, st, p := agentStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	near := items(1, 1)[0]
	near.Diagnosis.Window.Start, near.Diagnosis.Window.End = now.Add(time.Hour), now.Add(time.Hour+time.Minute)
	var its []cloudapi.DecodedItem
	its = append(its, near)
	for i := range 5 { // 5 months in the future, as a broken clock sends
		it := items(uint64(i+2), 1)[0]
		start := now.AddDate(0, i+2, 0)
		it.Diagnosis.Window.Start, it.Diagnosis.Window.End = start, start.Add(time.Minute)
		its = append(its, it)
	}
	res, err := st.IngestDiagnoses(ctx, p, its)
	require.NoError(t, err)
	assert.Equal(t, cloudapi.ItemAccepted, res[0].Status)
	for i := 1; i < len(res); i++ {
		require.Equal(t, cloudapi.ItemRejected, res[i].Status, "item %d", i)
		require.NotNil(t, res[i].Problem)
		assert.Equal(t, cloudapi.ProblemInvalidItem, res[i].Problem.Type)
		require.Len(t, res[i].Problem.Errors, 1)
		assert.Equal(t, "/diagnoses/"+string(rune('0'+i))+"/window/start", res[i].Problem.Errors[0].Pointer)
	}
	var parts int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'diagnoses'::regclass
		AND inhrelid::regclass::text > $1`, "diagnoses_"+now.AddDate(0, 1, 0).Format("2006_01")).Scan(&parts))
	assert.Zero(t, parts, "no partition of the refused months")

	// The bound is configurable.
	st.SetMaxFuture(365 * 24 * time.Hour)
	res, err = st.IngestDiagnoses(ctx, p, its[1:2])
	require.NoError(t, err)
	assert.Equal(t, cloudapi.ItemAccepted, res[0].Status)
}
