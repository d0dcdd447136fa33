package authcache

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// eventually polls cond every 10ms until it holds or 10s have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Against PostgreSQL: a notification on store.RevokedChannel (from any
// session) flushes the cache; a killed listening session stops the cache
// serving until the listener has reconnected; the end of ctx stops Listen.
func TestListen(t *testing.T) {
	t.Parallel()
	pool, _ := dbtest.Pool(t)
	c := New(Options{Heartbeat: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Listen(ctx, pool, slog.New(slog.NewTextHandler(t.Output(), nil)))
	}()
	t.Cleanup(func() { cancel(); <-done }) // before the pool closes
	eventually(t, "listening", c.Listening)

	f := &fetcher{principals: map[string]*store.Principal{"tok": {TokenID: 1, Role: store.RoleViewer}}}
	fill := func() {
		t.Helper()
		_, err := c.Lookup(ctx, "tok", f.fetch)
		require.NoError(t, err)
		require.Equal(t, 1, c.Len())
	}
	fill()

	// Heartbeats pass; the entry stays.
	time.Sleep(500 * time.Millisecond)
	assert.True(t, c.Listening())
	assert.Equal(t, 1, c.Len())

	// Another session's NOTIFY (what a revoking transaction sends).
	_, err := pool.Exec(ctx, `SELECT pg_notify($1, 'token:1')`, store.RevokedChannel)
	require.NoError(t, err)
	eventually(t, "flushed by the notification", func() bool { return c.Len() == 0 })
	assert.Equal(t, 1.0, testutil.ToFloat64(c.flushes.WithLabelValues(ReasonNotify)))

	// The listening session dies: nothing is served until it is back.
	fill()
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n))
	require.GreaterOrEqual(t, n, 1, "the listening session (and the pool's idle ones)")
	eventually(t, "back after the lost connection", func() bool {
		return testutil.ToFloat64(c.flushes.WithLabelValues(ReasonListener)) >= 3 && c.Listening()
	})
	assert.Zero(t, c.Len(), "flushed when it reconnected")
	fill()

	cancel()
	<-done
	assert.False(t, c.Listening(), "stopped: serves nothing")
	assert.Zero(t, c.Len())
	assert.Equal(t, 0.0, testutil.ToFloat64(c.listenerUp))
}
