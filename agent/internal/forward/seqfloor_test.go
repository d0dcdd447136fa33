package forward

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// lostLife is a fake cloud holding seqs 1..n of this agent from an
// earlier life (other diagnoses than any the test makes), and a new
// history with its sequence mark, as after a wiped data directory: its
// numbering restarts at 1.
func lostLife(t *testing.T, n uint64) (*fakeCloud, *history.Store, string) {
	t.Helper()
	c := newCloud(t, newClock(t0, 1000))
	for s := uint64(1); s <= n; s++ {
		c.stored[s] = "an earlier life's diagnosis"
		c.order = append(c.order, s)
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "diagnoses.db.seq")
	h := openHistory(t, filepath.Join(dir, "diagnoses.db"), mark)
	return c, h, mark
}

func openHistory(t *testing.T, path, mark string) *history.Store {
	t.Helper()
	h, err := history.Open(path, history.Options{SeqFile: mark, MaxAge: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// appendTo stores n diagnoses in h (numbered by it) and returns them.
func appendTo(t *testing.T, h *history.Store, n int) []diag.Diagnosis {
	t.Helper()
	var out []diag.Diagnosis
	for range n {
		d := diagnosis(0, false)
		got, err := h.Append(context.Background(), &d, history.Progress{})
		require.NoError(t, err)
		out = append(out, got)
	}
	return out
}

// TestRestartedNumberingIsRenumbered: an agent whose history and
// sequence mark were lost numbers its diagnoses from 1 again. The first
// check-in answers the highest seq the cloud holds; the agent raises its
// sequence above it (durably) and renumbers what it queued before any
// diagnosis goes, so the cloud accepts every new diagnosis instead of
// answering them as conflicts of the earlier life's (lost), and the
// history numbers on above them, after a restart too.
func TestRestartedNumberingIsRenumbered(t *testing.T) {
	c, h, mark := lostLife(t, 10)
	f := newForwarder(t, c, "", func(o *Options) { o.Seqs = h })
	for _, d := range appendTo(t, h, 4) {
		require.NoError(t, f.Enqueue(context.Background(), d))
	}
	alert := diagnosis(0, true)
	a, err := h.Append(context.Background(), &alert, history.Progress{})
	require.NoError(t, err)
	require.NoError(t, f.Enqueue(context.Background(), a))
	require.Equal(t, uint64(5), a.Seq, "numbered from 1 again")

	stop := run(t, f)
	eventually(t, "the five diagnoses answered", func() bool {
		s := f.Stats()
		return s.Queued == 0 && s.Accepted+s.Duplicates+s.Conflicts+s.Rejected == 5
	})
	stop()
	s := f.Stats()
	assert.Equal(t, uint64(5), s.Accepted, "%+v", s)
	assert.Zero(t, s.Conflicts+s.Duplicates, "none taken for an earlier life's diagnosis")
	assert.Equal(t, uint64(5), s.Renumbered)
	c.get(func(c *fakeCloud) {
		assert.ElementsMatch(t, seqRange(11, 15), c.order[10:], "stored above the earlier life's seqs")
		for _, b := range c.batches {
			for _, seq := range b {
				assert.Greater(t, seq, uint64(10), "no diagnosis sent under a seq the cloud holds")
			}
		}
	})
	assert.GreaterOrEqual(t, h.LastSeq(), uint64(15))

	// A diagnosis numbered before the raise and queued only now (its
	// Enqueue raced the check-in) is renumbered as it is queued; one
	// renumbered before (a replay of the history) is not queued again.
	late := diagnosis(6, false)
	late.Window.Start, late.Window.End = t0.Add(time.Hour), t0.Add(time.Hour+time.Minute)
	require.NoError(t, f.Enqueue(context.Background(), late))
	assert.Equal(t, uint64(6), f.Stats().Renumbered)
	require.NoError(t, f.Enqueue(context.Background(), diagnosis(3, false)))
	assert.Equal(t, uint64(6), f.Stats().Renumbered)
	assert.Equal(t, 1, f.Stats().Queued)

	// The raised sequence outlives the history file: the mark holds it.
	require.NoError(t, h.Close())
	path := filepath.Join(filepath.Dir(mark), "diagnoses.db")
	require.NoError(t, os.Remove(path))
	h = openHistory(t, path, mark)
	d := appendTo(t, h, 1)[0]
	assert.Greater(t, d.Seq, uint64(16), "the new file continues above every seq sent")
}

// TestHighestSeqBelowNextChangesNothing: an agent whose numbering never
// restarted is at or above the cloud's highest seq; a diagnosis of its
// outbox at or below it is one the cloud may hold already (its answer was
// lost): sent as it is, answered duplicate, never renumbered. A cloud
// older than the field changes nothing either.
func TestHighestSeqBelowNextChangesNothing(t *testing.T) {
	for _, old := range []bool{false, true} {
		t.Run(map[bool]string{false: "below", true: "older cloud"}[old], func(t *testing.T) {
			c := newCloud(t, newClock(t0, 1000))
			h := openHistory(t, filepath.Join(t.TempDir(), "diagnoses.db"), filepath.Join(t.TempDir(), "diagnoses.db.seq"))
			ds := appendTo(t, h, 6)
			c.set(func(c *fakeCloud) { c.preHighest = old })
			// The cloud stored 1..5; the answer to 4 and 5 was lost.
			for _, d := range ds[:5] {
				d.AgentID = testAgent
				fp, err := cloudapi.Fingerprint(&d)
				require.NoError(t, err)
				c.stored[d.Seq] = fp
			}
			f := newForwarder(t, c, "", func(o *Options) { o.Seqs = h })
			for _, d := range ds[3:] {
				require.NoError(t, f.Enqueue(context.Background(), d))
			}
			stop := run(t, f)
			eventually(t, "three answered", func() bool {
				s := f.Stats()
				return s.Queued == 0 && s.Accepted+s.Duplicates == 3
			})
			stop()
			s := f.Stats()
			assert.Equal(t, uint64(2), s.Duplicates)
			assert.Equal(t, uint64(1), s.Accepted)
			assert.Zero(t, s.Renumbered+s.Conflicts)
			assert.Equal(t, uint64(6), h.LastSeq(), "not raised")
		})
	}
}

// TestOlderCloudLeavesARestartedNumbering: without highest_seq the agent
// cannot know its numbering restarted: as before the field, the cloud
// answers the colliding diagnoses as conflicts (counted, logged).
func TestOlderCloudLeavesARestartedNumbering(t *testing.T) {
	c, h, _ := lostLife(t, 10)
	c.set(func(c *fakeCloud) { c.preHighest = true })
	f := newForwarder(t, c, "", func(o *Options) { o.Seqs = h })
	for _, d := range appendTo(t, h, 2) {
		require.NoError(t, f.Enqueue(context.Background(), d))
	}
	stop := run(t, f)
	eventually(t, "two answered", func() bool { return f.Stats().Conflicts == 2 })
	stop()
	assert.Zero(t, f.Stats().Renumbered)
	assert.Equal(t, uint64(2), h.LastSeq())
}

// TestOutboxOutlivingTheHistory: the outbox kept diagnoses of the lost
// life that the cloud does not hold yet (above its highest seq): they go
// under their numbers, and the raised sequence continues above them too,
// so no new diagnosis collides with one of them in the outbox.
func TestOutboxOutlivingTheHistory(t *testing.T) {
	c, h, _ := lostLife(t, 10)
	f := newForwarder(t, c, "", func(o *Options) { o.Seqs = h })
	enqueue(t, f, []uint64{11, 12}, nil) // the earlier life's, not sent
	for _, d := range appendTo(t, h, 2) {
		require.NoError(t, f.Enqueue(context.Background(), d))
	}
	stop := run(t, f)
	eventually(t, "four answered", func() bool { return f.Stats().Accepted == 4 })
	stop()
	assert.Equal(t, uint64(2), f.Stats().Renumbered)
	c.get(func(c *fakeCloud) { assert.Equal(t, seqRange(11, 14), c.order[10:]) })
	d := appendTo(t, h, 1)[0]
	assert.Equal(t, uint64(15), d.Seq)
}

// failingSeqs is the real history whose RaiseSeq fails while fail is set
// (a sequence mark that cannot be written: a full or read-only disk).
type failingSeqs struct {
	*history.Store
	fail atomic.Bool
}

func (s *failingSeqs) RaiseSeq(floor uint64) (uint64, error) {
	if s.fail.Load() {
		return 0, errors.New("sequence mark: no space left on device")
	}
	return s.Store.RaiseSeq(floor)
}

// TestRaiseFailureSendsNothing: while the sequence cannot be raised, no
// diagnosis goes (each would be lost as a conflict): the check-in is
// retried with the backoff, and once the raise works the diagnoses go
// renumbered.
func TestRaiseFailureSendsNothing(t *testing.T) {
	c, h, _ := lostLife(t, 10)
	seqs := &failingSeqs{Store: h}
	seqs.fail.Store(true)
	f := newForwarder(t, c, "", func(o *Options) { o.Seqs = seqs })
	for _, d := range appendTo(t, h, 3) {
		require.NoError(t, f.Enqueue(context.Background(), d))
	}
	stop := run(t, f)
	eventually(t, "three check-ins", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n >= 3
	})
	c.get(func(c *fakeCloud) { assert.Empty(t, c.batches, "nothing sent before the raise") })
	s := f.Stats()
	assert.Equal(t, LinkDown, s.Link)
	assert.Contains(t, s.LastError, "no space left on device")
	assert.Zero(t, s.Failures, "no request failed")
	seqs.fail.Store(false)
	eventually(t, "three accepted", func() bool { return f.Stats().Accepted == 3 })
	stop()
	assert.Zero(t, f.Stats().Conflicts)
	assert.Equal(t, uint64(3), f.Stats().Renumbered)
}
