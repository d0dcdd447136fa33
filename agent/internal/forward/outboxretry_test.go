package forward

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// TestRunOutlivesOutboxFailures: an outbox that fails while Run sends (its
// file unreadable) does not stop Run, which took the whole agent down
// with it ("a part of the agent failed; stopping"): the failure is
// counted (Stats.OutboxErrors), Run backs off and tries again, and once
// the outbox works again the queued diagnoses go.
func TestRunOutlivesOutboxFailures(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	c.set(func(c *fakeCloud) { c.mode = "503" })
	f := newForwarder(t, c, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for seq := uint64(1); seq <= 2; seq++ {
		require.NoError(t, f.Enqueue(ctx, diagnosis(seq, false)))
	}

	// The outbox file closed under the forwarder: every read fails.
	f.mu.Lock()
	f.ob.mu.Lock()
	path := f.ob.db.Path()
	require.NoError(t, f.ob.db.Close())
	f.ob.mu.Unlock()
	f.mu.Unlock()
	c.set(func(c *fakeCloud) { c.mode = "" })
	eventually(t, "two outbox failures", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.st.OutboxErrors >= 2
	})
	select {
	case err := <-done:
		t.Fatalf("Run returned after an outbox failure: %v", err)
	default:
	}
	assert.Empty(t, storedSeqs(c), "nothing sent while the outbox fails")

	// The file readable again: the diagnoses go.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	f.mu.Lock()
	f.ob.mu.Lock()
	f.ob.db = db
	f.ob.mu.Unlock()
	f.mu.Unlock()
	eventually(t, "both diagnoses stored", func() bool { return len(storedSeqs(c)) == 2 })
	cancel()
	require.NoError(t, <-done)
	assert.GreaterOrEqual(t, f.Stats().OutboxErrors, uint64(2))
}

func storedSeqs(c *fakeCloud) []uint64 {
	var seqs []uint64
	c.get(func(c *fakeCloud) { seqs = append(seqs, c.order...) })
	return seqs
}
