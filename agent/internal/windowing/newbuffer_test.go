package windowing

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The documented buffer recovery (docs/agent.md, "Buffer recovery": move
// the damaged buffer.db aside, start again) gives an empty buffer whose
// sequence numbers restart at 1 under a new ID, while the history keeps
// the windowing's progress: a cursor in the old buffer's numbering. The
// runner resumed from that cursor and saw no reading of the new buffer
// until it had grown past it (hours to days of readings), so no window
// was diagnosed meanwhile. It must scan the new buffer from its start,
// without diagnosing again the windows it had already diagnosed.
func TestNewBufferIsScannedFromItsStart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rg := openRig(t, dir)
	m := &fakeModel{spec: testSpec()}
	run := start(t, rg, m, Options{})
	const before = 6
	for w := range before {
		require.NoError(t, rg.buf.Append(ctx, cycle(t0.Add(time.Duration(w)*10*time.Second), 0, 10, "A", "B", "C")))
	}
	waitFor(t, "the first windows diagnosed", func() bool { return run.r.Stats().Diagnosed == before })
	run.stop()
	require.Equal(t, uint64(before*30), rg.hist.Progress().Cursor)
	oldID := rg.buf.ID()
	rg.close()

	// The buffer is moved aside; the history stays.
	require.NoError(t, os.Rename(filepath.Join(dir, "buffer.db"), filepath.Join(dir, "buffer.db.corrupt-20260101T000000Z")))
	rg = openRig(t, dir)
	require.NotEqual(t, oldID, rg.buf.ID())
	// A window already diagnosed (its readings are in the new buffer too,
	// e.g. a gateway re-sending) and two new ones: 90 readings, fewer
	// than the old cursor of 180.
	last := t0.Add((before - 1) * 10 * time.Second)
	w1, w2 := last.Add(10*time.Second), last.Add(20*time.Second)
	require.NoError(t, rg.buf.Append(ctx, append(append(cycle(last, 0, 10, "A", "B", "C"), cycle(w1, 0, 10, "A", "B", "C")...),
		cycle(w2, 0, 10, "A", "B", "C")...)))
	run = start(t, rg, m, Options{})
	waitFor(t, "the new buffer's windows diagnosed", func() bool { return run.r.Stats().Diagnosed == 2 })
	run.stop()
	ds := all(t, rg.hist)
	require.Len(t, ds, before+2, "the window diagnosed before the recovery is not diagnosed again")
	assert.True(t, w1.Equal(ds[before].Window.Start))
	assert.True(t, w2.Equal(ds[before+1].Window.Start))
	assert.InDelta(t, 1, ds[before+1].Window.Coverage, 1e-9)
	p := rg.hist.Progress()
	assert.Equal(t, uint64(90), p.Cursor, "the progress counts in the new buffer's numbering")
	assert.Equal(t, rg.buf.ID(), p.Buffer, "the progress names the buffer its cursor counts in")
}

// A progress saved with another buffer's ID is not resumed from, even
// when that buffer's cursor is below the new buffer's last sequence
// number (the new buffer already holds more readings than the old cursor
// counted: ingest ran a while before the windowing started).
func TestProgressOfAnotherBufferIsNotResumed(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rg := openRig(t, dir)
	m := &fakeModel{spec: testSpec()}
	run := start(t, rg, m, Options{})
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 10, "A", "B", "C")))
	require.NoError(t, rg.buf.Append(ctx, cycle(t0.Add(10*time.Second), 0, 2, "A", "B", "C"))) // closes window 0 by the watermark
	waitFor(t, "window 0 diagnosed", func() bool { return run.r.Stats().Diagnosed == 1 })
	run.stop()
	require.Equal(t, rg.buf.ID(), rg.hist.Progress().Buffer)
	require.Equal(t, uint64(30), rg.hist.Progress().Cursor)
	rg.close()

	require.NoError(t, os.Rename(filepath.Join(dir, "buffer.db"), filepath.Join(dir, "buffer.db.aside")))
	rg = openRig(t, dir)
	// 60 readings in the new buffer: past the old cursor of 30.
	w1, w2 := t0.Add(10*time.Second), t0.Add(20*time.Second)
	require.NoError(t, rg.buf.Append(ctx, append(cycle(w1, 0, 10, "A", "B", "C"), cycle(w2, 0, 10, "A", "B", "C")...)))
	run = start(t, rg, m, Options{})
	waitFor(t, "the new buffer's windows diagnosed", func() bool { return run.r.Stats().Diagnosed == 2 })
	ds := all(t, rg.hist)
	require.Len(t, ds, 3)
	assert.InDelta(t, 1, ds[1].Window.Coverage, 1e-9, "window 1 has its readings below the old cursor too")
}
