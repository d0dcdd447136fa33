package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// statements is a pgx tracer that records the statements a pool sends.
type statements struct {
	mu  sync.Mutex
	sql []string
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql = append(s.sql, strings.ToLower(strings.Fields(d.SQL)[0]))
	return ctx
}

func (*statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (s *statements) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sql
	s.sql = nil
	return out
}

// An acknowledgement is one UPDATE: since 751b6d6 it ran in a transaction
// like a resolve (BEGIN, UPDATE, COMMIT: two more round trips), though
// only a resolve takes the alert's ingest lock; an acknowledged alert
// stays open, so a batch racing the acknowledgement counts on it either
// way. A resolve still locks in a transaction.
func TestAcknowledgeIsOneStatement(t *testing.T) {
	t.Parallel()
	_, u := dbtest.Migrated(t)
	cfg, err := pgxpool.ParseConfig(u)
	require.NoError(t, err)
	trace := &statements{}
	cfg.ConnConfig.Tracer = trace
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.New(pool)
	p := agentFixture(t, st)
	ctx := context.Background()
	ingestOK(t, st, p, alertItem(5, time.Now().UTC().Add(-time.Hour).Truncate(time.Second), diag.SeverityHigh))
	as := allAlerts(t, st, p.OrgID)
	require.Len(t, as, 1)

	trace.take()
	a, err := st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertAcknowledged, 0)
	require.NoError(t, err)
	assert.Equal(t, store.AlertAcknowledged, a.State)
	assert.Equal(t, []string{"update"}, trace.take(), "an acknowledgement's statements")

	a, err = st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertResolved, 0)
	require.NoError(t, err)
	assert.Equal(t, store.AlertResolved, a.State)
	assert.Equal(t, []string{"begin", "select", "update", "commit"}, trace.take(), "a resolve's statements")

	_, err = st.SetAlertState(ctx, p.OrgID, as[0].ID, store.AlertAcknowledged, 0)
	require.ErrorIs(t, err, store.ErrAlertState, "acknowledging a resolved alert")
	_, err = st.SetAlertState(ctx, p.OrgID, as[0].ID+1000, store.AlertAcknowledged, 0)
	require.ErrorIs(t, err, store.ErrNotFound)
}
