package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// lines numbers texts first, first+1, ... as a worker does.
func lines(first int, texts ...string) []store.NumberedLine {
	out := make([]store.NumberedLine, len(texts))
	for i, s := range texts {
		out[i] = store.NumberedLine{N: first + i, Line: s}
	}
	return out
}

// logView is a job's log as "attempt/number line", in the API's order.
func logView(t *testing.T, st *store.Store, org, job int64) []string {
	t.Helper()
	ls, err := st.JobLogs(context.Background(), org, job, 0, 1000)
	require.NoError(t, err)
	var out []string
	for i, l := range ls {
		if i > 0 {
			require.Greater(t, l.Seq, ls[i-1].Seq, "seq orders the lines")
		}
		out = append(out, fmt.Sprintf("%d/%d %s", l.Attempt, l.Number, l.Line))
	}
	return out
}

// An append sent again (its answer was lost after the database took it)
// stores nothing more, alone or ahead of new lines, and still answers for
// the worker's lease; the log pages in order with seq as the cursor.
func TestReplayedLogAppendStoresLinesOnce(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "r")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 1, 0)
	require.NoError(t, err)
	c, err := st.Claim(ctx, "w1", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c)

	require.NoError(t, st.AppendLogs(ctx, c.Lease, lines(1, "a", "b")))
	require.NoError(t, st.AppendLogs(ctx, c.Lease, lines(1, "a", "b")), "all stored before: not a lost lease")
	require.NoError(t, st.AppendLogs(ctx, c.Lease, lines(1, "a", "b", "c", "d")))
	require.NoError(t, st.AppendLogs(ctx, c.Lease, lines(5, "e")))
	assert.Equal(t, []string{"1/1 a", "1/2 b", "1/3 c", "1/4 d", "1/5 e"}, logView(t, st, org, j.ID))

	first, err := st.JobLogs(ctx, org, j.ID, 0, 2)
	require.NoError(t, err)
	require.Len(t, first, 2)
	rest, err := st.JobLogs(ctx, org, j.ID, first[1].Seq, 10)
	require.NoError(t, err)
	require.Len(t, rest, 3)
	assert.Equal(t, "c", rest[0].Line)
	assert.Equal(t, 3, rest[0].Number)

	require.Error(t, st.AppendLogs(ctx, c.Lease, lines(0, "zero")), "numbers start at 1")
}

// The lines of a job's next attempt (its lease lost, the job claimed
// again) number from 1 again and are all kept beside the earlier
// attempt's; the earlier worker's late append, a replay or new lines, is
// refused and stores nothing.
func TestReLeasedAttemptLogsAreKept(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "a")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 2, 0)
	require.NoError(t, err)
	c1, err := st.Claim(ctx, "w1", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c1)
	require.NoError(t, st.AppendLogs(ctx, c1.Lease, lines(1, "one", "two")))

	_, err = pool.Exec(ctx, `UPDATE training_jobs SET lease_expires_at = now() - interval '1s' WHERE id = $1`, j.ID)
	require.NoError(t, err)
	c2, err := st.Claim(ctx, "w2", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c2)
	require.Equal(t, 2, c2.Lease.Attempt)

	require.NoError(t, st.AppendLogs(ctx, c2.Lease, lines(1, "uno", "dos")))
	assert.ErrorIs(t, st.AppendLogs(ctx, c1.Lease, lines(1, "one", "two", "three")), store.ErrLeaseLost)
	require.NoError(t, st.AppendLogs(ctx, c2.Lease, lines(2, "dos", "tres")))
	assert.Equal(t, []string{"1/1 one", "1/2 two", "2/1 uno", "2/2 dos", "2/3 tres"}, logView(t, st, org, j.ID))
}

// Migration 0019 writes no row of the unbounded training_logs: the lines
// stored before it keep no number (n NULL) and every row version stays
// as it was (no backfill, no rewrite); an append after it numbers its
// lines from 1 beside them, and skips a number it stored.
func TestLogNumbersMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.MigratedTo(t, 18)
	st := store.New(pool) // only its job queue, which schema 18 has as 19, before the migration
	org, d := readyDataset(t, st, "m")
	j1, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
	require.NoError(t, err)
	j2, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
	require.NoError(t, err)
	old := func(job int64, attempt int, texts ...string) {
		t.Helper()
		_, err := pool.Exec(ctx, `INSERT INTO training_logs (job_id, attempt, line)
			SELECT $1, $2, line FROM unnest($3::text[]) WITH ORDINALITY AS u(line, n) ORDER BY n`, job, attempt, texts)
		require.NoError(t, err)
	}
	old(j1.ID, 1, "a", "b")
	old(j2.ID, 1, "x")
	old(j1.ID, 1, "b", "c") // sent again by a worker of schema 18: at least once
	old(j1.ID, 2, "d")
	old(j2.ID, 1, "y")
	// Each row version's place and writer: an UPDATE or a rewrite of the
	// table changes them.
	versions := func() []string {
		t.Helper()
		rows, err := pool.Query(ctx, `SELECT ctid::text || ' ' || xmin::text FROM training_logs ORDER BY seq`)
		require.NoError(t, err)
		vs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return vs
	}
	before := versions()

	_, err = db.Migrate(ctx, pool, nil)
	require.NoError(t, err)
	assert.Equal(t, before, versions(), "the migration wrote rows")
	assert.Equal(t, []string{"1/0 a", "1/0 b", "1/0 b", "1/0 c", "2/0 d"}, logView(t, st, org, j1.ID))
	assert.Equal(t, []string{"1/0 x", "1/0 y"}, logView(t, st, org, j2.ID))

	_, err = pool.Exec(ctx, `UPDATE training_jobs SET state = 'running', worker = 'w', attempts = 2, lease_expires_at = now() + interval '1m'
		WHERE id = $1`, j1.ID)
	require.NoError(t, err)
	l := store.Lease{JobID: j1.ID, Worker: "w", Attempt: 2}
	require.NoError(t, st.AppendLogs(ctx, l, lines(1, "d", "e")))
	require.NoError(t, st.AppendLogs(ctx, l, lines(2, "e", "f"))) // 2 sent again
	assert.Equal(t, []string{"1/0 a", "1/0 b", "1/0 b", "1/0 c", "2/0 d", "2/1 d", "2/2 e", "2/3 f"}, logView(t, st, org, j1.ID))
}

// A worker of the release before line numbers, still running while a
// rolling upgrade has migrated the database, stores its lines (without
// numbers, at least once as before), and they are listed in order beside
// a new worker's numbered ones; the API's JSON leaves their number out.
func TestUnnumberedLogAppendAfterMigration(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "u")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 1, 0)
	require.NoError(t, err)
	c, err := st.Claim(ctx, "w-old", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c)

	// The statement of store.AppendLogs before 6f51436, as that release's
	// workers send it.
	oldAppend := func(texts ...string) {
		t.Helper()
		tag, err := pool.Exec(ctx, `INSERT INTO training_logs (job_id, attempt, line)
		SELECT $1, $3, line FROM unnest($4::text[]) WITH ORDINALITY AS u(line, n), training_jobs j
		WHERE j.id = $1 AND j.worker = $2 AND j.attempts = $3 AND j.state = 'running' ORDER BY n`,
			c.Lease.JobID, c.Lease.Worker, c.Lease.Attempt, texts)
		require.NoError(t, err, "an old worker's append after the migration")
		require.Equal(t, int64(len(texts)), tag.RowsAffected())
	}
	oldAppend("a", "b")
	oldAppend("b") // sent again: stored again, as that release did
	require.NoError(t, st.AppendLogs(ctx, c.Lease, lines(1, "c")))
	assert.Equal(t, []string{"1/0 a", "1/0 b", "1/0 b", "1/1 c"}, logView(t, st, org, j.ID))

	ls, err := st.JobLogs(ctx, org, j.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, ls, 4)
	for i, want := range []bool{false, false, false, true} {
		raw, err := json.Marshal(ls[i])
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		_, has := m["number"]
		assert.Equal(t, want, has, "line %d: %s", i, raw)
	}
}
