package buffer

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A compaction reports its progress after each transaction of the copy
// (the agent beats the ingest's heartbeat from it while appends wait),
// and the copy made in many transactions holds everything.
func TestCompactReportsProgress(t *testing.T) {
	old := compactTxBytes
	compactTxBytes = 64 << 10
	defer func() { compactTxBytes = old }()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	var progress atomic.Int64
	var during atomic.Int64 // progress reported before Compact returned
	b := openTest(t, path, Options{MaxBytes: MinMaxBytes, CompactFreeRatio: -1, OnProgress: func() { progress.Add(1) }})
	for i := range uint64(100) {
		require.NoError(t, b.Append(ctx, testReadings(i*1000, 1000)))
	}
	require.NoError(t, b.SetCursor(ctx, "x", 1)) // a cursor bucket entry too
	before := b.Stats()
	require.Greater(t, before.Bytes, int64(8*64<<10), "enough for several transactions")
	want := readAll(t, b)
	require.NoError(t, b.Compact(ctx))
	during.Store(progress.Load())
	after := b.Stats()
	assert.GreaterOrEqual(t, during.Load(), int64(before.Bytes/(64<<10)), "progress after each 64 KiB transaction: %+v", before)
	assert.Equal(t, before.Records, after.Records)
	assert.Equal(t, before.LastSeq, after.LastSeq)
	assert.Equal(t, want, readAll(t, b), "the copy holds every record")
	assert.Equal(t, uint64(1), b.Cursor("x"))
	require.NoError(t, b.Append(ctx, testReadings(100_000, 5)))
	assert.Equal(t, before.LastSeq+5, b.LastSeq())
}
