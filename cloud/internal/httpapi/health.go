package httpapi

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
)

const (
	// readyTTL is how long /health/ready reuses a successful check; a
	// failed one is checked again at the next request.
	readyTTL = time.Second
	// readyCheckTimeout bounds one check.
	readyCheckTimeout = 2 * time.Second
	// readyAcquireWait is how long a check waits for a pooled connection
	// before it reads on a connection of its own.
	readyAcquireWait = 100 * time.Millisecond
)

// readiness keeps the last schema check of /health/ready. Concurrent
// requests share one check: those that waited while it ran take its
// result. The zero value is ready to use.
type readiness struct {
	mu  sync.Mutex
	at  time.Time // when st and err were got; zero: never
	st  db.SchemaStatus
	err error
}

// status returns the schema's status, from the cache when a successful
// check is younger than readyTTL or a check ended while the caller
// waited.
func (r *readiness) status(ctx context.Context, pool *pgxpool.Pool) (db.SchemaStatus, error) {
	asked := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.at.IsZero() && (r.at.After(asked) || r.err == nil && len(r.st.Pending) == 0 && time.Since(r.at) < readyTTL) {
		return r.st, r.err
	}
	ctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
	defer cancel()
	st, err := schemaStatus(ctx, pool)
	r.at, r.st, r.err = time.Now(), st, err
	return st, err
}

// schemaStatus reads db.Status on a pooled connection or, when every
// pooled connection is busy for readyAcquireWait, on a connection of its
// own: a saturated pool is no reason to leave the load balancer (every
// replica would under the same load), an unreachable database is.
func schemaStatus(ctx context.Context, pool *pgxpool.Pool) (db.SchemaStatus, error) {
	actx, cancel := context.WithTimeout(ctx, readyAcquireWait)
	c, err := pool.Acquire(actx)
	cancel()
	if err == nil {
		defer c.Release()
		return db.Status(ctx, c)
	}
	if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
		return db.SchemaStatus{}, err
	}
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		return db.SchemaStatus{}, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return db.Status(ctx, conn)
}
