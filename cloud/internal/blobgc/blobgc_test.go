package blobgc_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/blobgc"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
)

// fixture is a migrated database with a data set, a training job and a
// model version, and a blob store.
type fixture struct {
	pool  *pgxpool.Pool
	blobs *blob.FS
	org   int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool, _ := dbtest.Migrated(t)
	blobs, err := blob.NewFS(t.TempDir(), 0)
	require.NoError(t, err)
	f := &fixture{pool: pool, blobs: blobs}
	require.NoError(t, pool.QueryRow(context.Background(),
		`INSERT INTO organisations (slug, name) VALUES ('acme', 'Acme') RETURNING id`).Scan(&f.org))
	return f
}

func (f *fixture) exec(t *testing.T, sql string, args ...any) int64 {
	t.Helper()
	var id int64
	require.NoError(t, f.pool.QueryRow(context.Background(), sql, args...).Scan(&id))
	return id
}

// put stores key, last modified age ago.
func (f *fixture) put(t *testing.T, key string, size int, age time.Duration) {
	t.Helper()
	_, err := f.blobs.Put(context.Background(), key, bytes.NewReader(make([]byte, size)))
	require.NoError(t, err)
	at := time.Now().Add(-age)
	require.NoError(t, os.Chtimes(filepath.Join(f.blobs.Dir(), filepath.FromSlash(key)), at, at))
}

func (f *fixture) exists(t *testing.T, key string) bool {
	t.Helper()
	_, err := f.blobs.Stat(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

// The objects a data set, a training job or a model version names
// survive however old; an old object nothing names is deleted; a young
// one (an upload in progress, a row about to commit) survives; nothing
// outside blobgc.Prefix is touched.
func TestSweepDeletesOnlyOldOrphans(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	old, minAge := 30*24*time.Hour, blobgc.MinAge(time.Hour)
	o := fmt.Sprintf("orgs/%d/", f.org)
	keys := map[string]bool{ // key -> survives
		o + "datasets/1/aaaa.tar.gz":                true,  // datasets.blob_key
		o + "jobs/1/attempt-1/bundle.tar.gz":        true,  // training_jobs.artifact_key
		o + "jobs/1/attempt-2/bundle.tar.gz":        true,  // model_versions.artifact_key
		o + "datasets/1/bbbb.tar.gz":                false, // an upload whose row never committed
		o + "datasets/fleet-cccc.tar.gz":            false, // a build's archive, the same
		o + "jobs/2/attempt-1/bundle.tar.gz":        false, // a bundle whose job never recorded it
		o + "datasets/2/dddd.tar.gz":                true,  // young: its upload may be committing
		"other/" + o + "datasets/1/eeee.tar.gz":     true,  // not a key rig-cloud writes
		o + "jobs/3/attempt-1/bundle-young.tar.gz":  true,  // young
		o + "datasets/3/ffff-just-past-age.tar.gz":  false, // just past MinAge
		o + "datasets/4/gggg-just-under-age.tar.gz": true,  // just under MinAge
	}
	for k := range keys {
		age := old
		switch {
		case k == o+"datasets/2/dddd.tar.gz" || k == o+"jobs/3/attempt-1/bundle-young.tar.gz":
			age = time.Minute
		case k == o+"datasets/3/ffff-just-past-age.tar.gz":
			age = minAge + time.Minute
		case k == o+"datasets/4/gggg-just-under-age.tar.gz":
			age = minAge - time.Minute
		}
		f.put(t, k, 100, age)
	}
	ds := f.exec(t, `INSERT INTO datasets (org_id, name, kind, source, rig_type, rig_config, config_digest, state, blob_key, bytes, digest)
		VALUES ($1, 'd1', 'uci', 'import', 'zema-testrig', '{}', 'sha256:00', 'ready', $2, 100, 'sha256:00') RETURNING id`,
		f.org, o+"datasets/1/aaaa.tar.gz")
	job := f.exec(t, `INSERT INTO training_jobs (org_id, dataset_id, rig_type, config, max_attempts, artifact_key)
		VALUES ($1, $2, 'zema-testrig', '{}', 3, $3) RETURNING id`, f.org, ds, o+"jobs/1/attempt-1/bundle.tar.gz")
	f.exec(t, `INSERT INTO model_versions (org_id, rig_type, version, bundle_name, bundle_version, job_id, dataset_id,
		dataset_digest, archive_digest, code_version, backend, config, metrics, manifest, artifact_key, artifact_bytes, artifact_digest)
		VALUES ($1, 'zema-testrig', 1, 'zema', '1', $2, $3, 'sha256:00', 'sha256:00', 'dev', 'go', '{}', '{}', '{}', $4, 100, 'sha256:00')
		RETURNING id`, f.org, job, ds, o+"jobs/1/attempt-2/bundle.tar.gz")
	// A pending data set (no archive yet) names nothing.
	f.exec(t, `INSERT INTO datasets (org_id, name, kind, source, rig_type, rig_config, config_digest)
		VALUES ($1, 'd2', 'uci', 'import', 'zema-testrig', '{}', 'sha256:00') RETURNING id`, f.org)

	sw := blobgc.New(f.pool, f.blobs, blobgc.Options{MinAge: minAge})
	res, err := sw.Sweep(ctx)
	require.NoError(t, err)
	assert.False(t, res.Skipped)
	assert.Equal(t, 4, res.Deleted, "%+v", res)
	assert.Equal(t, int64(400), res.DeletedBytes)
	assert.Equal(t, 3, res.Referenced)
	assert.Equal(t, 3, res.Young)
	assert.Equal(t, 10, res.Listed)
	for k, survives := range keys {
		assert.Equal(t, survives, f.exists(t, k), "%s", k)
	}

	// Nothing is left to delete.
	res, err = sw.Sweep(ctx)
	require.NoError(t, err)
	assert.Zero(t, res.Deleted)
}

// While another worker sweeps (holds the lock), a sweep skips its turn
// and deletes nothing.
func TestSweepSkipsWhileLocked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := fmt.Sprintf("orgs/%d/datasets/1/orphan.tar.gz", f.org)
	f.put(t, key, 10, 30*24*time.Hour)

	tx, err := f.pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, blobgc.LockKey)
	require.NoError(t, err)
	sw := blobgc.New(f.pool, f.blobs, blobgc.Options{})
	res, err := sw.Sweep(ctx)
	require.NoError(t, err)
	assert.True(t, res.Skipped)
	assert.True(t, f.exists(t, key))

	require.NoError(t, tx.Rollback(ctx))
	res, err = sw.Sweep(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Deleted)
	assert.False(t, f.exists(t, key))
}

// Every text column of the schema whose name says it holds a key or a
// blob is in blobgc.References (or known to name something else): a
// migration that adds a column of blob keys must list it, or the sweep
// would delete what it names.
func TestReferencesCoverTheSchema(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Migrated(t)
	rows, err := pool.Query(context.Background(), `SELECT table_name::text, column_name::text FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying')
		AND (column_name LIKE '%\_key' OR column_name LIKE '%blob%' OR column_name LIKE '%artifact%' OR column_name LIKE '%archive%')
		AND table_name NOT IN (SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid)`)
	require.NoError(t, err)
	var got []blobgc.Column
	for rows.Next() {
		var c blobgc.Column
		require.NoError(t, rows.Scan(&c.Table, &c.Column))
		got = append(got, c)
	}
	require.NoError(t, rows.Err())
	// Columns of those names that hold no blob key.
	notKeys := []blobgc.Column{ // digests of what the keys name
		{"training_jobs", "artifact_digest"}, {"model_versions", "artifact_digest"}, {"model_versions", "archive_digest"},
	}
	for _, c := range got {
		if slices.Contains(notKeys, c) {
			continue
		}
		assert.Contains(t, blobgc.References, c, "%s.%s looks like a blob key column: add it to blobgc.References (or to notKeys here)", c.Table, c.Column)
	}
	for _, c := range blobgc.References {
		assert.Contains(t, got, c, "blobgc.References names %s.%s, which the schema lacks", c.Table, c.Column)
	}
}
