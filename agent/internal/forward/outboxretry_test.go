package forward

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRunOutlivesOutboxFailures: an outbox that fails while Run sends (its
// file unreadable) does not stop Run, which took the whole agent down
// with it ("a part of the agent failed; stopping"): the failure is
// counted (Stats.OutboxErrors), Run backs off and tries again, and once
// the outbox works again the queued diagnoses go.
func TestRunOutlivesOutboxFailures(t *testing.T) {
	f, c, ctx, cancel, done := runAgainstBusyCloud(t)
	for seq := uint64(1); seq <= 2; seq++ {
		require.NoError(t, f.Enqueue(ctx, diagnosis(seq, false)))
	}

	// The outbox file closed under the forwarder: every read fails.
	path := closeOutbox(t, f)
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
	reopenOutbox(t, f, path)
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
