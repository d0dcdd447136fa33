package forward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// runAgainstBusyCloud starts Run on a forwarder whose cloud answers 503,
// so what is enqueued stays in the outbox. cancel stops Run (it is also
// called at the test's end); Run's result comes on done.
func runAgainstBusyCloud(t *testing.T) (f *Forwarder, c *fakeCloud, ctx context.Context, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	c = newCloud(t, newClock(t0, 1000))
	c.set(func(c *fakeCloud) { c.mode = "503" })
	f = newForwarder(t, c, "", nil)
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := make(chan error, 1)
	go func() { ch <- f.Run(ctx) }()
	return f, c, ctx, cancel, ch
}

// closeOutbox closes the outbox's file under the running forwarder, so
// that every outbox read fails, and returns its path for reopenOutbox.
func closeOutbox(t *testing.T, f *Forwarder) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ob.mu.Lock()
	defer f.ob.mu.Unlock()
	path := f.ob.db.Path()
	require.NoError(t, f.ob.db.Close())
	return path
}

// reopenOutbox opens the outbox's file at path again under the running
// forwarder: its reads work again.
func reopenOutbox(t *testing.T, f *Forwarder, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	f.mu.Lock()
	f.ob.mu.Lock()
	f.ob.db = db
	f.ob.mu.Unlock()
	f.mu.Unlock()
}
