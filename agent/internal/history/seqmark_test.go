package history

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// markOf reads the sequence mark from its file (what a restart sees).
func markOf(tb testing.TB, path string) uint64 {
	tb.Helper()
	m, err := readSeqMark(path)
	require.NoError(tb, err)
	return m.Reserved
}

// crash drops s the way a kill -9 does: the bbolt file is closed (its
// lock released) without Close's work.
func crash(tb testing.TB, s *Store) {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NoError(tb, s.db.Close())
	s.db = nil
}

// TestSeqMarkOutlivesTheHistory: the history file is moved aside (the
// documented recovery of a damaged one); the new file's sequence starts
// above every Seq the old one assigned, after a crash as after a clean
// stop, and the mark file covers each Seq as soon as it is assigned.
func TestSeqMarkOutlivesTheHistory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	s := open(t, path, Options{SeqFile: mark})
	assert.Zero(t, markOf(t, mark), "nothing reserved before the first Append")
	for i := range 3 {
		d, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
		assert.Equal(t, uint64(i+1), d.Seq)
		assert.GreaterOrEqual(t, markOf(t, mark), d.Seq, "the mark on disk covers every Seq assigned")
	}
	assert.Equal(t, uint64(SeqReserveBlock), markOf(t, mark), "one write reserved a whole block")
	crash(t, s)

	require.NoError(t, os.Rename(path, path+".corrupt-20260301T120000Z"))
	s = open(t, path, Options{SeqFile: mark})
	d, err := s.Append(ctx, window(3), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(SeqReserveBlock+1), d.Seq, "after a crash the new file continues above the reserved block")
	assert.Equal(t, uint64(2*SeqReserveBlock), markOf(t, mark), "the next block reserved before that Seq was assigned")
	require.NoError(t, s.Close())
	assert.Equal(t, uint64(SeqReserveBlock+1), markOf(t, mark), "a clean stop hands the unused reservation back")

	// A restart on an intact file continues its own sequence: no gap.
	s = open(t, path, Options{SeqFile: mark})
	d, err = s.Append(ctx, window(4), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(SeqReserveBlock+2), d.Seq)
	require.NoError(t, s.Close())

	// Nor after a clean stop and the loss of the file.
	require.NoError(t, os.Remove(path))
	s = open(t, path, Options{SeqFile: mark})
	d, err = s.Append(ctx, window(5), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(SeqReserveBlock+3), d.Seq)
}

// TestSeqMarkWrittenBeforeTheSeq: when the mark cannot be moved past the
// next Seq, Append stores nothing, so no Seq is ever assigned beyond what
// the mark file says (a kill -9 between the two writes leaves the mark
// ahead, never behind).
func TestSeqMarkWrittenBeforeTheSeq(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	require.NoError(t, writeSeqMark(mark, seqMarkFile{Reserved: 2}))
	s := open(t, path, Options{SeqFile: mark})
	for i := range 2 {
		d, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
		assert.Equal(t, uint64(3+i), d.Seq, "above the mark found at Open")
	}
	assert.Equal(t, uint64(3+SeqReserveBlock-1), markOf(t, mark))

	// Block the next write of the mark: its temporary file's path is a
	// directory.
	require.NoError(t, writeSeqMark(mark, seqMarkFile{Reserved: 4}))
	s.reserved = 4
	require.NoError(t, os.Mkdir(mark+".tmp", 0o700))
	_, err := s.Append(ctx, window(2), Progress{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sequence mark")
	assert.Equal(t, uint64(4), s.LastSeq(), "no Seq assigned past the mark")
	assert.Equal(t, uint64(2), s.Stats().Count, "nothing stored")

	require.NoError(t, os.Remove(mark+".tmp"))
	d, err := s.Append(ctx, window(2), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5), d.Seq)
	assert.Equal(t, uint64(5+SeqReserveBlock-1), markOf(t, mark))
}

// TestSeqMarkFromAnOlderHistory: a history kept without a mark file (an
// agent from before it) gets one at Open, covering its sequence, so that
// losing the history afterwards does not restart the numbering.
func TestSeqMarkFromAnOlderHistory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	s := open(t, path, Options{})
	for i := range 5 {
		_, err := s.Append(ctx, window(i), Progress{})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())

	s = open(t, path, Options{SeqFile: mark})
	assert.Equal(t, uint64(5+SeqReserveBlock-1), markOf(t, mark), "reserved at Open, above the file's sequence")
	crash(t, s)
	require.NoError(t, os.Remove(path))
	s = open(t, path, Options{SeqFile: mark})
	d, err := s.Append(ctx, window(5), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(5+SeqReserveBlock), d.Seq)
}

// TestSeqMarkDamaged: a mark file that is not a mark is moved aside and
// the sequence goes on from the history file; the mark is written again.
func TestSeqMarkDamaged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	s := open(t, path, Options{SeqFile: mark})
	_, err := s.Append(ctx, window(0), Progress{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, os.WriteFile(mark, []byte("\x00\x00garbage"), 0o600))

	s = open(t, path, Options{SeqFile: mark})
	d, err := s.Append(ctx, window(1), Progress{})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), d.Seq)
	assert.GreaterOrEqual(t, markOf(t, mark), uint64(2), "a new mark covers the file's sequence")
	aside, err := filepath.Glob(mark + ".corrupt-*")
	require.NoError(t, err)
	require.Len(t, aside, 1, "the damaged mark is kept aside")
	b, err := os.ReadFile(aside[0])
	require.NoError(t, err)
	assert.Equal(t, "\x00\x00garbage", string(b))
}

// TestSeqMarkKeepsTheLastWindow: the mark keeps the windowing's last
// window, so a new history file (the old one moved aside) resumes after
// it instead of diagnosing the buffer's windows again under new seqs.
// After a clean stop the mark holds the last window; after a crash, one
// at most windowMarkEvery older.
func TestSeqMarkKeepsTheLastWindow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path, mark := filepath.Join(dir, "diagnoses.db"), filepath.Join(dir, "diagnoses.db.seq")
	now := t0
	opts := Options{SeqFile: mark, Now: func() time.Time { return now }}
	appendAll := func(s *Store, from, to int) {
		for i := from; i < to; i++ {
			w := window(i)
			_, err := s.Append(ctx, w, Progress{Cursor: uint64(10 * (i + 1)), Window: w.Window.Start, Buffer: "buf-1"})
			require.NoError(t, err)
		}
	}
	s := open(t, path, opts)
	appendAll(s, 0, 3)
	require.NoError(t, s.Close())
	require.NoError(t, os.Rename(path, path+".corrupt-20260301T120000Z"))
	s = open(t, path, opts)
	assert.Equal(t, Progress{Window: window(2).Window.Start}, s.Progress(),
		"a new file resumes after the last window diagnosed, scanning the buffer from its start")

	// A crash: the mark holds the window of its last write (the block
	// reserved by the first Append after Open, before that diagnosis was
	// committed), not those of the minute since.
	appendAll(s, 3, 6)
	crash(t, s)
	require.NoError(t, os.Remove(path))
	s = open(t, path, opts)
	assert.Equal(t, window(2).Window.Start, s.Progress().Window, "windows of the last minute before a crash may be diagnosed again")
	appendAll(s, 3, 6)
	now = now.Add(windowMarkEvery)
	appendAll(s, 6, 7)
	crash(t, s)
	require.NoError(t, os.Remove(path))
	s = open(t, path, opts)
	assert.Equal(t, window(6).Window.Start, s.Progress().Window, "written again a minute later")

	// An intact file keeps its own progress.
	appendAll(s, 7, 8)
	require.NoError(t, s.Close())
	s = open(t, path, opts)
	assert.Equal(t, Progress{Cursor: 80, Window: window(7).Window.Start, Buffer: "buf-1"}, s.Progress())
}
