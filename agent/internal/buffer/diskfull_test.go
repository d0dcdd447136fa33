package buffer

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/tmpfstest"
)

// TestDiskFull fills a real file system: Append must fail with
// ErrDiskFull (the ingest then does not acknowledge), everything
// acknowledged before must stay intact, and once space is freed appends
// work again without a restart.
func TestDiskFull(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=3m")
	ctx := context.Background()
	path := filepath.Join(dir, "buf.db")
	// A consumer that has read nothing: every reading is unreleased, so
	// nothing may be removed to make room.
	b := openTest(t, path, Options{MaxBytes: 64 << 20, CompactFreeRatio: -1, Consumers: []string{"forward"}})
	// Leave some room to free later.
	filler := filepath.Join(dir, "filler")
	require.NoError(t, os.WriteFile(filler, make([]byte, 512<<10), 0o600))

	var acked uint64
	var err error
	for i := uint64(0); i < 10_000; i++ {
		if err = b.Append(ctx, testReadings(i*1000, 1000)); err != nil {
			break
		}
		acked += 1000
	}
	require.ErrorIs(t, err, ErrDiskFull)
	assert.Contains(t, err.Error(), "no space left on device")
	require.Positive(t, acked)
	st := b.Stats()
	assert.Equal(t, acked, st.Records, "a failed commit stores nothing")
	assert.Positive(t, st.CommitErrors)

	recs := readAll(t, b)
	require.Equal(t, int(acked), len(recs))
	for _, r := range recs {
		require.Equal(t, testReading(r.Reading.Seq), r.Reading)
	}

	// Free space: the same Buffer goes on.
	require.NoError(t, os.Remove(filler))
	require.NoError(t, b.Append(ctx, testReadings(acked, 100)))
	acked += 100
	require.NoError(t, b.Close())

	b2 := openTest(t, path, Options{MaxBytes: 64 << 20, CompactFreeRatio: -1, Consumers: []string{"forward"}})
	assert.Equal(t, acked, b2.Stats().Records, "the file a full disk left opens cleanly")
	recs = readAll(t, b2)
	require.Equal(t, int(acked), len(recs))
	for _, r := range recs {
		require.Equal(t, testReading(r.Reading.Seq), r.Reading)
	}
}

// TestDiskFullRemovesReleasedFirst: on a full disk, readings already
// forwarded make room for new ones (counted), unforwarded ones are kept.
func TestDiskFullRemovesReleasedFirst(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=3m")
	ctx := context.Background()
	var drops []Drop
	b := openTest(t, filepath.Join(dir, "buf.db"), Options{
		MaxBytes: 64 << 20, CompactFreeRatio: -1, Consumers: []string{"forward"},
		OnDrop: func(d Drop) { drops = append(drops, d) },
	})
	var next uint64
	var err error
	for ; err == nil; next += 1000 {
		err = b.Append(ctx, testReadings(next, 1000))
	}
	require.ErrorIs(t, err, ErrDiskFull)
	require.Empty(t, drops, "nothing forwarded: nothing removed")
	half := b.LastSeq() / 2
	require.NoError(t, b.SetCursor(ctx, "forward", half))
	// The next failure frees forwarded readings; the one after succeeds.
	var ok bool
	for range 3 {
		if err = b.Append(ctx, testReadings(next, 1000)); err == nil {
			ok = true
			break
		}
		require.ErrorIs(t, err, ErrDiskFull)
	}
	require.True(t, ok, "appends resume once forwarded readings are removed")
	require.NotEmpty(t, drops)
	for _, d := range drops {
		assert.True(t, d.Released)
		assert.Equal(t, ReasonDiskFull, d.Reason)
		assert.LessOrEqual(t, d.LastSeq, half)
	}
	assert.Zero(t, b.Stats().Dropped.UnreleasedByBytes)
}
