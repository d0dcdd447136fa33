package forward

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// TestRenumberedReplayIsNotRenumberedAgain: a diagnosis numbered before
// the check-in that raised the sequence is renumbered as it is queued.
// The agent stops before the history's forward cursor moves past it (a
// kill, or SetCursor on a cancelled ctx), and the next start replays it
// from the history under its old seq: the outbox knows that seq was
// renumbered and ignores it, so the cloud stores the diagnosis once.
func TestRenumberedReplayIsNotRenumberedAgain(t *testing.T) {
	l := queuedAfterRaise(t)
	l.stop()
	require.NoError(t, l.f.Close())

	f := newForwarder(t, l.c, l.path, func(o *Options) { o.Seqs = l.h })
	require.NoError(t, f.Enqueue(context.Background(), l.d), "the replay after the restart")
	stop := run(t, f)
	eventually(t, "answered", func() bool { return f.Stats().Queued == 0 })
	stop()
	l.c.get(func(c *fakeCloud) {
		assert.Len(t, c.order[10:], 1, "one diagnosis stored once: %v", c.order[10:])
	})
	assert.Zero(t, f.Stats().Renumbered, "the replay is not renumbered")
	assert.Equal(t, uint64(1), f.Stats().Replays, "the replay is counted")
}

// TestOutboxThatOutlivedItsHistoryKeepsItsSeqs: the outbox is kept while
// the history and its sequence mark are lost (diagnoses.path on another
// volume, or a damaged history deleted), and it holds diagnoses the
// cloud stored already (its answer lost). They were numbered by the
// earlier life of the history: they keep their seqs and the cloud answers
// them as duplicates, instead of being renumbered above the cloud's
// highest seq and stored twice. The new history numbers above them.
func TestOutboxThatOutlivedItsHistoryKeepsItsSeqs(t *testing.T) {
	c := newCloud(t, newClock(t0, 1000))
	path := filepath.Join(t.TempDir(), "outbox.db")
	f := newForwarder(t, c, path, nil)
	for s := uint64(1); s <= 5; s++ {
		d := diagnosis(s, false)
		d.AgentID = testAgent
		require.NoError(t, f.Enqueue(context.Background(), d))
		fp, err := cloudapi.Fingerprint(&d)
		require.NoError(t, err)
		c.set(func(c *fakeCloud) { c.stored[s] = fp; c.order = append(c.order, s) })
	}
	require.NoError(t, f.Close())

	h := newHistory(t)
	f = newForwarder(t, c, path, func(o *Options) { o.Seqs = h })
	assert.GreaterOrEqual(t, h.LastSeq(), uint64(5), "numbering continues above the queued diagnoses")
	d := appendTo(t, h, 1)[0]
	require.NoError(t, f.Enqueue(context.Background(), d))
	stop := run(t, f)
	eventually(t, "answered", func() bool { return f.Stats().Queued == 0 })
	stop()
	s := f.Stats()
	assert.Zero(t, s.Renumbered)
	assert.Equal(t, uint64(5), s.Duplicates, "%+v", s)
	assert.Equal(t, uint64(1), s.Accepted, "%+v", s)
	c.get(func(c *fakeCloud) { assert.Len(t, c.stored, 6, "each diagnosis stored once") })
}
