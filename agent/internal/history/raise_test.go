package history

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRaiseSeq: the cloud's highest Seq raises a sequence that restarted
// (history and mark lost), the mark on disk covering it before RaiseSeq
// returns, and a crash after it cannot bring the old numbers back;
// ReserveSeqs hands out numbers Append never assigns.
func TestRaiseSeq(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	s := open(t, path, Options{SeqFile: mark})
	for i := range 2 {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}

	prev, err := s.RaiseSeq(2)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), prev, "at the floor already: nothing to do")
	assert.Equal(t, uint64(2), s.LastSeq())

	prev, err = s.RaiseSeq(5000)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), prev)
	assert.Equal(t, uint64(5000), s.LastSeq())
	assert.GreaterOrEqual(t, markOf(t, mark), uint64(5000), "the mark covers the raise")

	first, err := s.ReserveSeqs(3)
	require.NoError(t, err)
	assert.Equal(t, uint64(5001), first)
	d, err := s.Append(ctx, window(2), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5004), d.Seq, "Append continues above the reserved numbers")

	prev, err = s.RaiseSeq(100)
	require.NoError(t, err)
	assert.Equal(t, uint64(5004), prev, "a lower floor changes nothing")
	_, err = s.ReserveSeqs(0)
	require.Error(t, err)

	// A crash, and the history file lost again: the mark still holds the
	// raised sequence.
	first, err = s.ReserveSeqs(2)
	require.NoError(t, err)
	assert.Equal(t, uint64(5005), first)
	crash(t, s)
	require.NoError(t, os.Remove(path))
	s = open(t, path, Options{SeqFile: mark})
	d, err = s.Append(ctx, window(3), Progress{})
	require.NoError(t, err)
	assert.Greater(t, d.Seq, uint64(5006))

	// Without a mark, the file's own sequence keeps it.
	require.NoError(t, s.Close())
	path2 := filepath.Join(dir, "nomark.db")
	s = open(t, path2, Options{})
	_, err = s.RaiseSeq(70)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s = open(t, path2, Options{})
	d, err = s.Append(ctx, window(0), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(71), d.Seq)

	require.NoError(t, s.Close())
	_, err = s.RaiseSeq(1 << 40)
	require.ErrorIs(t, err, ErrClosed)
	_, err = s.ReserveSeqs(1)
	require.ErrorIs(t, err, ErrClosed)
	s.last = math.MaxUint64 - 1
	_, err = s.ReserveSeqs(2)
	require.ErrorIs(t, err, ErrSeq)
}
