package forward

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSecondLostHistoryWithEmptyOutboxQueuesNewDiagnoses: the history
// is lost (life B), the check-in raises the sequence above the cloud's
// highest seq, and the diagnosis numbered 1 is renumbered and sent: the
// outbox is empty. The history and its mark are lost again (life C)
// with the outbox kept, and the new history numbers from 1 again. Its
// seq 1 is a new diagnosis, not a replay of life B's: it is queued and
// stored, not ignored.
func TestSecondLostHistoryWithEmptyOutboxQueuesNewDiagnoses(t *testing.T) {
	l := queuedAfterRaise(t)
	c, f := l.c, l.f
	eventually(t, "sent", func() bool { return f.Stats().Queued == 0 && f.Stats().Accepted == 1 })
	l.stop()
	require.NoError(t, f.Close())

	h2 := newHistory(t)
	d2 := appendTo(t, h2, 1)[0]
	require.Equal(t, uint64(1), d2.Seq, "the new history numbers from 1")
	f = newForwarder(t, c, l.path, func(o *Options) { o.Seqs = h2 })
	require.NoError(t, f.Enqueue(context.Background(), d2))
	s := f.Stats()
	require.Equal(t, uint64(1), s.Enqueued, "life C's first diagnosis is queued: %+v", s)
	assert.Zero(t, s.Replays, "not a replay")
	stop := run(t, f)
	eventually(t, "answered", func() bool { return f.Stats().Queued == 0 })
	stop()
	s = f.Stats()
	assert.Equal(t, uint64(1), s.Accepted, "%+v", s)
	assert.Zero(t, s.Conflicts+s.Duplicates, "%+v", s)
	c.get(func(c *fakeCloud) { assert.Len(t, c.order, 12, "10 of life A, 1 of life B, 1 of life C: %v", c.order) })
	assert.Greater(t, h2.LastSeq(), uint64(11), "the new history numbers above every seq queued before")
}
