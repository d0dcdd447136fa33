package db_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

func TestMigrationsEmbedded(t *testing.T) {
	ms, err := db.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	for i, m := range ms {
		assert.Equal(t, i+1, m.Version, "versions are 1, 2, 3, ... without gaps: %s", m.Name)
	}
}

// N replicas migrating one fresh database at once end with one applied
// set: each migration applied exactly once, by one of them.
func TestConcurrentMigrators(t *testing.T) {
	t.Parallel()
	_, u := dbtest.Pool(t)
	ctx := context.Background()
	const n = 6
	var wg sync.WaitGroup
	applied := make([][]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Each its own pool, as separate replicas have.
			pool, err := db.Open(ctx, u, db.Options{MaxConns: 2})
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			applied[i], errs[i] = db.Migrate(ctx, pool, nil)
		})
	}
	wg.Wait()
	ms, err := db.Migrations()
	require.NoError(t, err)
	var all []int
	for i := range n {
		require.NoError(t, errs[i], "migrator %d", i)
		all = append(all, applied[i]...)
	}
	assert.Len(t, all, len(ms), "each migration applied once in all: %v", applied)

	pool, err := db.Open(ctx, u, db.Options{})
	require.NoError(t, err)
	defer pool.Close()
	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&rows))
	assert.Equal(t, len(ms), rows)
	st, err := db.Status(ctx, pool)
	require.NoError(t, err)
	assert.Empty(t, st.Pending)
	assert.Equal(t, len(ms), st.Applied)

	// Again: nothing to do.
	again, err := db.Migrate(ctx, pool, nil)
	require.NoError(t, err)
	assert.Empty(t, again)
}

func TestStatusOnEmptyDatabase(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Pool(t)
	st, err := db.Status(context.Background(), pool)
	require.NoError(t, err)
	assert.Equal(t, 0, st.Applied)
	assert.NotEmpty(t, st.Pending)
}

func TestChangedMigrationRefused(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Migrated(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "UPDATE schema_migrations SET checksum = 'deadbeefdeadbeefdeadbeef' WHERE version = 1")
	require.NoError(t, err)
	_, err = db.Migrate(ctx, pool, nil)
	require.ErrorIs(t, err, db.ErrChecksum)
	assert.Contains(t, err.Error(), "0001_schema_v1.sql")
}

func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Pool(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"m/0001_ok.sql":  {Data: []byte("CREATE TABLE a (x int);")},
		"m/0002_bad.sql": {Data: []byte("CREATE TABLE b (x int); SELECT * FROM nope;")},
	}
	_, err := db.MigrateFS(ctx, pool, fsys, "m", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "0002_bad.sql")
	var b *string
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('b')::text").Scan(&b))
	assert.Nil(t, b, "the failed migration left nothing behind")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n))
	assert.Equal(t, 1, n)
}

// Diagnoses partitions are made on demand, once, even when many
// transactions ask for the same month at once.
func TestEnsurePartition(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Migrated(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	ts := time.Date(2025, 3, 31, 23, 59, 59, 0, time.UTC)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = pool.Exec(ctx, "SELECT ensure_diagnosis_partition($1)", ts)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	var bound string
	require.NoError(t, pool.QueryRow(ctx, "SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'diagnoses_2025_03'").Scan(&bound))
	assert.Equal(t, "FOR VALUES FROM ('2025-03-01 00:00:00+00') TO ('2025-04-01 00:00:00+00')", bound)
}

// A migrator waiting for another's advisory lock says so in its log
// (a replica waiting silently looked hung), then migrates once the lock
// is free.
func TestMigrateLogsWhileWaitingForLock(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Pool(t)
	ctx := context.Background()
	holder, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", db.MigrationLockKey)
	require.NoError(t, err)

	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	fsys := fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x int);")}}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	type result struct {
		applied []int
		err     error
	}
	done := make(chan result, 1)
	go func() {
		applied, err := db.MigrateFS(mctx, pool, fsys, "m", log)
		done <- result{applied, err}
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "waiting for the migration lock") },
		30*time.Second, 20*time.Millisecond, "no log while waiting for the lock: %s", logs.String())
	select {
	case r := <-done:
		t.Fatalf("migrated while another session held the lock: %v %v", r.applied, r.err)
	default:
	}
	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock($1)", db.MigrationLockKey)
	require.NoError(t, err)
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, []int{1}, r.applied)
	assert.Contains(t, logs.String(), "migration lock taken")
}

// A migration whose ALTER TABLE would wait behind a long transaction
// fails after MigrationLockTimeout (55P03) and rolls back, instead of
// waiting without limit while every query on the table queues behind it.
func TestMigrationLockTimeout(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Pool(t)
	ctx := context.Background()
	fsys := fstest.MapFS{"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x int);")}}
	_, err := db.MigrateFS(ctx, pool, fsys, "m", nil)
	require.NoError(t, err)

	// A long transaction reads a: it holds ACCESS SHARE until it ends.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "SELECT * FROM a")
	require.NoError(t, err)

	fsys["m/0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE b (x int); ALTER TABLE a ADD COLUMN y int;")}
	mctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	applied, err := db.MigrateFS(mctx, pool, fsys, "m", nil)
	require.Error(t, err)
	assert.Empty(t, applied)
	var pe *pgconn.PgError
	require.ErrorAs(t, err, &pe, "%v", err)
	assert.Equal(t, "55P03", pe.Code, "lock_not_available")
	assert.Contains(t, err.Error(), "0002_b.sql")
	require.NoError(t, tx.Rollback(ctx))

	var b *string
	require.NoError(t, pool.QueryRow(ctx, "SELECT to_regclass('b')::text").Scan(&b))
	assert.Nil(t, b, "the timed-out migration was rolled back")
	// Once the transaction has ended, the migration applies.
	applied, err = db.MigrateFS(ctx, pool, fsys, "m", nil)
	require.NoError(t, err)
	assert.Equal(t, []int{2}, applied)
}
