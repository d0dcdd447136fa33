package httpapi_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// A pool whose every connection is busy (a replica under load) is no
// reason to fail readiness: every replica would leave the load balancer
// at once. The check reads on a connection of its own.
func TestReadyWithSaturatedPool(t *testing.T) {
	t.Parallel()
	_, u := dbtest.Migrated(t)
	ctx := context.Background()
	pool, err := db.Open(ctx, u, db.Options{MaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	e := newRawEnv(t, store.New(pool))
	held := make([]*pgxpool.Conn, 2)
	for i := range held {
		held[i], err = pool.Acquire(ctx)
		require.NoError(t, err)
	}
	r := e.raw("GET", "/health/ready", "", "", nil)
	assert.Equal(t, 200, r.code, "%s", r.body)
	assert.Contains(t, string(r.body), `"status":"ready"`)
	for _, c := range held {
		c.Release()
	}
	// And again with the pool free (the cached result or a new check).
	r = e.raw("GET", "/health/ready", "", "", nil)
	assert.Equal(t, 200, r.code, "%s", r.body)
}

// An unreachable database fails readiness, with the pool idle or busy.
func TestReadyUnreachableDatabase(t *testing.T) {
	t.Parallel()
	pool, err := pgxpool.New(context.Background(), "postgres://rig@127.0.0.1:1/nowhere?connect_timeout=1")
	require.NoError(t, err)
	defer pool.Close()
	e := newRawEnv(t, store.New(pool))
	for range 2 {
		r := e.raw("GET", "/health/ready", "", "", nil)
		require.Equal(t, 503, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, "database unreachable")
	}
}
