package forward

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestOutboxFailingIsReported: Run's outbox failures in a row are
// reported (OutboxFailing: how many, since when, the last error), for the
// agent to say it is not ready, and cleared once the outbox works again
// (review r4 finding 4). Before, a permanently failing outbox was retried
// for ever with nothing but a counter to show it.
func TestOutboxFailingIsReported(t *testing.T) {
	f, c, ctx, cancel, done := runAgainstBusyCloud(t)
	n, since, err := f.OutboxFailing()
	assert.Zero(t, n)
	assert.True(t, since.IsZero())
	assert.NoError(t, err)
	require.NoError(t, f.Enqueue(ctx, diagnosis(1, false)))

	path := closeOutbox(t, f)
	c.set(func(c *fakeCloud) { c.mode = "" })
	eventually(t, "outbox failures in a row", func() bool { n, _, _ := f.OutboxFailing(); return n >= OutboxNotReadyAfter })
	n, since, err = f.OutboxFailing()
	assert.GreaterOrEqual(t, n, OutboxNotReadyAfter)
	assert.False(t, since.IsZero())
	assert.Error(t, err)

	reopenOutbox(t, f, path)
	eventually(t, "failures cleared", func() bool { n, _, _ := f.OutboxFailing(); return n == 0 })
	cancel()
	require.NoError(t, <-done)
}

// TestRunStopsOnDamagedOutbox: a damaged outbox found while running (an
// item the forwarder cannot read) is no failure a retry mends: Run
// returns an error wrapping ErrCorrupt at once, for the agent to exit 65
// (service.StoreDamaged), instead of retrying it for ever (review r4
// finding 4).
func TestRunStopsOnDamagedOutbox(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", nil)
	key := make([]byte, 9)
	key[0] = prioOther
	binary.BigEndian.PutUint64(key[1:], 7)
	require.NoError(t, f.ob.db.Update(func(tx *bolt.Tx) error {
		v := make([]byte, valueHeader, valueHeader+4)
		binary.BigEndian.PutUint64(v, uint64(t0.UnixNano()))
		return tx.Bucket(bucketItems).Put(key, append(v, "xxxx"...)) // not JSON
	}))
	f.ob.mu.Lock()
	f.ob.n[1]++ // as if queued: the forwarder reads it to send
	f.ob.mu.Unlock()

	done := make(chan error, 1)
	go func() { done <- f.Run(context.Background()) }()
	select {
	case err := <-done:
		require.ErrorIs(t, err, ErrCorrupt)
		assert.Contains(t, err.Error(), "malformed item")
	case <-time.After(10 * time.Second):
		f.Close()
		t.Fatal("Run retried a damaged outbox instead of returning")
	}
}
