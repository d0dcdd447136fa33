package buffer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/shared/reading"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testReading is the deterministic reading number i: tests can rebuild it
// to check what they read back.
func testReading(i uint64) reading.Reading {
	return reading.Reading{
		Sensor:  fmt.Sprintf("S%d", i%17),
		Time:    t0.Add(time.Duration(i) * time.Millisecond),
		Value:   float64(i)*0.25 - 1000,
		Seq:     i,
		Quality: reading.Quality(i % 3),
	}
}

func testReadings(from uint64, n int) []reading.Reading {
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = testReading(from + uint64(i))
	}
	return rs
}

func openTest(t testing.TB, path string, o Options) *Buffer {
	t.Helper()
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	b, err := Open(context.Background(), path, o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func readAll(t testing.TB, b *Buffer) []Record {
	t.Helper()
	var out []Record
	require.NoError(t, b.Scan(context.Background(), 0, func(r Record) error {
		out = append(out, r)
		return nil
	}))
	return out
}

func TestAppendReadRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	b := openTest(t, path, Options{BlockReadings: 7})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	require.NoError(t, b.Append(ctx, testReadings(10, 25)))
	require.NoError(t, b.Append(ctx, nil), "an empty append is a no-op")
	recs := readAll(t, b)
	require.Len(t, recs, 35)
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq, "sequence numbers start at 1 and are consecutive")
		assert.Equal(t, testReading(uint64(i)), r.Reading)
	}
	got, err := b.Read(ctx, 20, 5, nil)
	require.NoError(t, err)
	require.Len(t, got, 5)
	assert.Equal(t, uint64(21), got[0].Seq)
	assert.Equal(t, testReading(20), got[0].Reading)

	st := b.Stats()
	assert.Equal(t, uint64(35), st.Records)
	assert.Equal(t, uint64(1), st.FirstSeq)
	assert.Equal(t, uint64(35), st.LastSeq)
	assert.Positive(t, st.Bytes)
	assert.Less(t, st.Bytes, int64(35*24), "compact encoding: under 24 bytes a reading")
	assert.Positive(t, st.FileBytes)

	// Reopen: data, sequence and cursors survive.
	require.NoError(t, b.SetCursor(ctx, "forward", 30))
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close is idempotent")
	assert.ErrorIs(t, b.Append(ctx, testReadings(0, 1)), ErrClosed)
	_, err = b.Read(ctx, 0, 1, nil)
	assert.ErrorIs(t, err, ErrClosed)

	b2 := openTest(t, path, Options{})
	assert.Len(t, b.ID(), 32)
	assert.Equal(t, b.ID(), b2.ID(), "the buffer's identity is persisted")
	assert.Equal(t, uint64(30), b2.Cursor("forward"))
	assert.Equal(t, uint64(35), b2.LastSeq())
	require.NoError(t, b2.Append(ctx, testReadings(35, 3)))
	recs = readAll(t, b2)
	require.Len(t, recs, 38)
	assert.Equal(t, uint64(38), recs[37].Seq)
	assert.Equal(t, testReading(37), recs[37].Reading)
}

func TestAppendRejectsUnstorableReadings(t *testing.T) {
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{})
	long := make([]byte, MaxSensorLen+1)
	for i := range long {
		long[i] = 'x'
	}
	for name, r := range map[string]reading.Reading{
		"empty sensor": {Time: t0},
		"long sensor":  {Sensor: string(long), Time: t0},
		"zero time":    {Sensor: "PS1"},
		"year 2300":    {Sensor: "PS1", Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(name, func(t *testing.T) {
			err := b.Append(context.Background(), []reading.Reading{testReading(1), r})
			require.ErrorIs(t, err, ErrInvalidReading)
			assert.Contains(t, err.Error(), "reading 1")
		})
	}
	assert.Zero(t, b.LastSeq(), "nothing of a refused call is stored")
}

func TestSpecialValuesRoundTrip(t *testing.T) {
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{})
	rs := []reading.Reading{
		{Sensor: "a", Time: minTime, Value: math.Inf(-1), Seq: math.MaxUint64, Quality: 255},
		{Sensor: "b", Time: maxTime, Value: math.Copysign(0, -1)},
		{Sensor: "a", Time: t0.Add(-time.Nanosecond), Value: math.MaxFloat64},
	}
	require.NoError(t, b.Append(context.Background(), rs))
	recs := readAll(t, b)
	require.Len(t, recs, 3)
	for i := range rs {
		assert.True(t, rs[i].Time.Equal(recs[i].Reading.Time))
		assert.Equal(t, math.Float64bits(rs[i].Value), math.Float64bits(recs[i].Reading.Value))
		assert.Equal(t, rs[i].Seq, recs[i].Reading.Seq)
		assert.Equal(t, rs[i].Quality, recs[i].Reading.Quality)
	}
	nan := []reading.Reading{{Sensor: "n", Time: t0, Value: math.NaN()}}
	require.NoError(t, b.Append(context.Background(), nan), "the buffer stores what ingest accepted, NaN included")
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	ctx := context.Background()
	var commits, readings atomic.Int64
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		GroupDelay: 5 * time.Millisecond,
		OnCommit: func(ci CommitInfo) {
			commits.Add(1)
			readings.Add(int64(ci.Readings))
			assert.NoError(t, ci.Err)
		},
	})
	const writers, calls, per = 8, 25, 10
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for c := range calls {
				base := uint64((w*calls + c) * per)
				assert.NoError(t, b.Append(ctx, testReadings(base, per)))
			}
		})
	}
	wg.Wait()
	recs := readAll(t, b)
	require.Len(t, recs, writers*calls*per)
	seen := make(map[uint64]bool)
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
		assert.Equal(t, testReading(r.Reading.Seq), r.Reading)
		seen[r.Reading.Seq] = true
	}
	assert.Len(t, seen, writers*calls*per)
	assert.Equal(t, int64(writers*calls*per), readings.Load())
	assert.Less(t, commits.Load(), int64(writers*calls), "concurrent appends share commits")
	st := b.Stats()
	assert.Equal(t, uint64(writers*calls*per), st.Appended)
	assert.Equal(t, uint64(commits.Load()), st.Commits)
}

func TestCursors(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	require.NoError(t, b.SetCursor(ctx, "forward", 4))
	require.NoError(t, b.SetCursor(ctx, "window", 10))
	assert.Equal(t, uint64(4), b.Cursor("forward"))
	assert.Zero(t, b.Cursor("other"))
	err := b.SetCursor(ctx, "forward", 11)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "beyond the last sequence number 10")
	assert.Equal(t, uint64(4), b.Cursor("forward"))
	require.Error(t, b.SetCursor(ctx, "", 1))
	assert.Equal(t, map[string]uint64{"forward": 4, "window": 10}, b.Stats().Cursors)
}

func TestWaitWakesOnCommit(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{})
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx, 0) }()
	select {
	case <-done:
		t.Fatal("Wait returned before a commit")
	case <-time.After(20 * time.Millisecond):
	}
	require.NoError(t, b.Append(ctx, testReadings(0, 1)))
	require.NoError(t, <-done)
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, b.Wait(short, 1), context.DeadlineExceeded)
	go func() { done <- b.Wait(ctx, 1) }()
	require.NoError(t, b.Close())
	assert.ErrorIs(t, <-done, ErrClosed)
}

func TestCloseFlushesQueuedAppends(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	b := openTest(t, path, Options{GroupDelay: 50 * time.Millisecond})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := range 20 {
		wg.Go(func() {
			if err := b.Append(ctx, testReadings(uint64(i*5), 5)); err == nil {
				ok.Add(1)
			} else {
				assert.ErrorIs(t, err, ErrClosed)
			}
		})
	}
	time.Sleep(5 * time.Millisecond)
	require.NoError(t, b.Close())
	wg.Wait()
	b2 := openTest(t, path, Options{})
	assert.Equal(t, uint64(ok.Load()*5), b2.Stats().Records, "every Append that returned nil is stored")
}

func TestRange(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{BlockReadings: 50})
	// 5000 readings 1 ms apart: 5 s; plus a late reading and one far off.
	require.NoError(t, b.Append(ctx, testReadings(0, 5000)))
	late := testReading(1500)
	late.Sensor = "late"
	far := testReading(0)
	far.Sensor, far.Time = "far", t0.Add(24*time.Hour)
	require.NoError(t, b.Append(ctx, []reading.Reading{late, far}))

	var got []Record
	from, to := t0.Add(1200*time.Millisecond), t0.Add(3700*time.Millisecond)
	require.NoError(t, b.Range(ctx, from, to, func(r Record) error {
		got = append(got, r)
		return nil
	}))
	require.Len(t, got, 2500+1)
	lateSeen := false
	for _, r := range got {
		assert.False(t, r.Reading.Time.Before(from))
		assert.True(t, r.Reading.Time.Before(to))
		if r.Reading.Sensor == "late" {
			lateSeen = true
			assert.Equal(t, uint64(5001), r.Seq)
		}
	}
	assert.True(t, lateSeen, "a reading that arrived late is found by its time")

	got = got[:0]
	require.NoError(t, b.Range(ctx, t0.Add(23*time.Hour), t0.Add(25*time.Hour), func(r Record) error {
		got = append(got, r)
		return nil
	}))
	require.Len(t, got, 1)
	assert.Equal(t, "far", got[0].Reading.Sensor)

	n := 0
	require.NoError(t, b.Range(ctx, t0, t0.Add(time.Hour), func(Record) error {
		n++
		if n == 10 {
			return ErrStop
		}
		return nil
	}))
	assert.Equal(t, 10, n)
	boom := errors.New("boom")
	assert.ErrorIs(t, b.Range(ctx, t0, t0.Add(time.Hour), func(Record) error { return boom }), boom)
}

func TestMaxBytesReleasedFirstThenOldest(t *testing.T) {
	ctx := context.Background()
	var drops []Drop
	var mu sync.Mutex
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		MaxBytes:      MinMaxBytes,
		Consumers:     []string{"forward"},
		BlockReadings: 100,
		OnDrop: func(d Drop) {
			mu.Lock()
			drops = append(drops, d)
			mu.Unlock()
		},
	})
	// Fill to about the cap.
	var next uint64
	for b.Stats().Bytes < MinMaxBytes-20_000 {
		require.NoError(t, b.Append(ctx, testReadings(next, 1000)))
		next += 1000
	}
	require.Empty(t, drops)
	fwd := b.LastSeq() / 2
	require.NoError(t, b.SetCursor(ctx, "forward", fwd))
	// A little more: only released (forwarded) readings go.
	require.NoError(t, b.Append(ctx, testReadings(next, 3000)))
	next += 3000
	mu.Lock()
	got := drops
	drops = nil
	mu.Unlock()
	require.NotEmpty(t, got)
	for _, d := range got {
		assert.True(t, d.Released, "forwarded data goes first: %+v", d)
		assert.Equal(t, ReasonMaxBytes, d.Reason)
		assert.LessOrEqual(t, d.LastSeq, fwd)
	}
	assert.Equal(t, uint64(1), got[0].FirstSeq)
	st := b.Stats()
	assert.LessOrEqual(t, st.Bytes, int64(MinMaxBytes))
	assert.Zero(t, st.Dropped.UnreleasedByBytes)
	assert.Positive(t, st.Dropped.ReleasedByBytes)

	// Much more: the unforwarded oldest go too, counted and reported.
	for range 40 {
		require.NoError(t, b.Append(ctx, testReadings(next, 1000)))
		next += 1000
	}
	st = b.Stats()
	assert.LessOrEqual(t, st.Bytes, int64(MinMaxBytes))
	assert.Positive(t, st.Dropped.UnreleasedByBytes)
	mu.Lock()
	var unreleased uint64
	for _, d := range drops {
		if !d.Released {
			unreleased += d.Readings
		}
	}
	mu.Unlock()
	assert.Equal(t, st.Dropped.UnreleasedByBytes, unreleased, "every unreleased drop reached OnDrop")
	assert.Equal(t, st.LastSeq-st.FirstSeq+1, st.Records, "the survivors are the newest, contiguous")
	assert.Equal(t, next, st.Records+st.Dropped.ReleasedByBytes+st.Dropped.UnreleasedByBytes, "stored + dropped = appended")
	recs := readAll(t, b)
	assert.Equal(t, st.Records, uint64(len(recs)))
	assert.Equal(t, testReading(next-1), recs[len(recs)-1].Reading)
}

func TestRejectPolicy(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		MaxBytes: MinMaxBytes, FullPolicy: PolicyReject, Consumers: []string{"forward"},
	})
	var next uint64
	var err error
	for err == nil {
		err = b.Append(ctx, testReadings(next, 1000))
		next += 1000
	}
	require.ErrorIs(t, err, ErrFull)
	assert.Contains(t, err.Error(), `full policy "reject"`)
	st := b.Stats()
	assert.Zero(t, st.Dropped.UnreleasedByBytes, "reject never drops unforwarded data")
	assert.Equal(t, uint64(1000), st.Rejected)
	// Forwarding frees room.
	require.NoError(t, b.SetCursor(ctx, "forward", b.LastSeq()))
	require.NoError(t, b.Append(ctx, testReadings(next, 1000)))
	assert.Positive(t, b.Stats().Dropped.ReleasedByBytes)
}

func TestMaxAge(t *testing.T) {
	ctx := context.Background()
	clk := agenttest.NewClock(t0)
	var drops []Drop
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		MaxAge: time.Hour, Now: clk.Now, Consumers: []string{"forward"},
		MaintenanceInterval: 5 * time.Millisecond,
		OnDrop:              func(d Drop) { drops = append(drops, d) },
	})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	require.NoError(t, b.SetCursor(ctx, "forward", 4))
	clk.Add(30 * time.Minute)
	require.NoError(t, b.Append(ctx, testReadings(10, 10)))
	assert.Equal(t, t0, b.Stats().Oldest)
	clk.Add(45 * time.Minute) // the first batch is 75 min old: maintenance removes it
	require.Eventually(t, func() bool { return b.Stats().Records == 10 }, 5*time.Second, 5*time.Millisecond)
	st := b.Stats()
	assert.Equal(t, uint64(11), st.FirstSeq)
	assert.Equal(t, t0.Add(30*time.Minute), st.Oldest)
	assert.Equal(t, uint64(4), st.Dropped.ReleasedByAge)
	assert.Equal(t, uint64(6), st.Dropped.UnreleasedByAge)
	require.NoError(t, b.Close())
	require.Len(t, drops, 2)
	assert.Equal(t, Drop{Reason: ReasonMaxAge, Released: true, FirstSeq: 1, LastSeq: 4, Readings: 4, Bytes: drops[0].Bytes}, drops[0])
	assert.Equal(t, Drop{Reason: ReasonMaxAge, Released: false, FirstSeq: 5, LastSeq: 10, Readings: 6, Bytes: drops[1].Bytes}, drops[1])
}

func TestDropCountsPersist(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	clk := agenttest.NewClock(t0)
	b := openTest(t, path, Options{MaxAge: time.Minute, Now: clk.Now})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	clk.Add(2 * time.Minute)
	require.NoError(t, b.Append(ctx, testReadings(10, 1)))
	require.Equal(t, uint64(10), b.Stats().Dropped.ReleasedByAge)
	require.NoError(t, b.Close())
	b2 := openTest(t, path, Options{MaxAge: time.Minute, Now: clk.Now})
	assert.Equal(t, uint64(10), b2.Stats().Dropped.ReleasedByAge)
	assert.Equal(t, uint64(1), b2.Stats().Records)
}

func TestFileLimitIsDiskFull(t *testing.T) {
	ctx := context.Background()
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{MaxBytes: 64 << 20, MaxFileBytes: 1 << 20})
	var err error
	for i := uint64(0); err == nil && i < 1000; i++ {
		err = b.Append(ctx, testReadings(i*1000, 1000))
	}
	require.ErrorIs(t, err, ErrDiskFull)
	assert.Contains(t, err.Error(), "size limit")
	st := b.Stats()
	assert.Positive(t, st.CommitErrors)
	assert.Positive(t, st.Rejected)
	// What was acknowledged before is intact.
	recs := readAll(t, b)
	assert.Equal(t, st.Records, uint64(len(recs)))
	for _, r := range recs {
		require.Equal(t, testReading(r.Reading.Seq), r.Reading)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "buf.db")
	openTest(t, path, Options{})
	_, err := Open(context.Background(), path, Options{})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), "another rig-agent")
}

func TestCompact(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	b := openTest(t, path, Options{Consumers: []string{"forward"}, MaxBytes: 4 << 20, CompactFreeRatio: -1})
	for i := range uint64(200) {
		require.NoError(t, b.Append(ctx, testReadings(i*1000, 1000)))
	}
	full := b.Stats()
	require.NoError(t, b.SetCursor(ctx, "forward", full.LastSeq-999))
	// Age everything but the last batch out through the byte cap: shrink it.
	require.NoError(t, b.Close())
	b = openTest(t, path, Options{Consumers: []string{"forward"}, MaxBytes: MinMaxBytes, CompactFreeRatio: -1})
	require.NoError(t, b.Append(ctx, testReadings(200_000, 10)))
	before := b.Stats()
	require.Greater(t, before.FreeBytes, before.FileBytes/2, "removing most data leaves free pages: %+v", before)

	// Readers go on during compaction.
	stop := make(chan struct{})
	var rerr atomic.Value
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.Read(ctx, 0, 100, nil); err != nil {
				rerr.Store(err)
				return
			}
		}
	})
	require.NoError(t, b.Compact(ctx))
	close(stop)
	wg.Wait()
	assert.Nil(t, rerr.Load())
	after := b.Stats()
	assert.LessOrEqual(t, after.FileBytes, before.FileBytes/2, "compaction shrinks the file")
	assert.Equal(t, before.Records, after.Records)
	assert.Equal(t, before.LastSeq, after.LastSeq)
	assert.Equal(t, uint64(1), after.Compactions)
	require.NoError(t, b.Append(ctx, testReadings(200_010, 5)))
	assert.Equal(t, before.LastSeq+5, b.LastSeq(), "the sequence continues after compaction")
	id := b.ID()
	recs := readAll(t, b)
	for _, r := range recs {
		require.Equal(t, testReading(r.Reading.Seq), r.Reading)
	}
	require.NoError(t, b.Close())
	_, err := os.Stat(path + compactSuffix)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// Automatic compaction at Open, and a leftover copy is removed.
	require.NoError(t, os.WriteFile(path+compactSuffix, []byte("half a copy"), 0o600))
	b = openTest(t, path, Options{CompactMinBytes: 1, CompactFreeRatio: 0.01})
	assert.Equal(t, before.LastSeq+5, b.LastSeq())
	assert.Equal(t, id, b.ID(), "compaction keeps the identity")
	_, err = os.Stat(path + compactSuffix)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestAppendHonoursContext(t *testing.T) {
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, b.Append(ctx, testReadings(0, 1)), context.Canceled)
}

func TestOptionsValidation(t *testing.T) {
	for name, o := range map[string]Options{
		"small max bytes": {MaxBytes: 1000},
		"policy":          {FullPolicy: "drop_newest"},
		"consumer":        {Consumers: []string{""}},
		"ratio":           {CompactFreeRatio: 1},
		"negative":        {GroupCount: -1},
		"block":           {BlockReadings: 1 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(context.Background(), filepath.Join(t.TempDir(), "b.db"), o)
			require.Error(t, err)
		})
	}
}

func TestLatestPerSensorSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	b := openTest(t, path, Options{})
	at := func(s string, sec int, seq uint64) reading.Reading {
		return reading.Reading{Sensor: s, Time: t0.Add(time.Duration(sec) * time.Second), Seq: seq}
	}
	require.NoError(t, b.Append(ctx, []reading.Reading{at("PS1", 5, 50), at("PS2", 3, 7), at("PS1", 4, 60)}))
	require.NoError(t, b.Append(ctx, []reading.Reading{at("PS2", 3, 8), at("TS1", 1, 1)}))
	require.NoError(t, b.Append(ctx, []reading.Reading{at("TS1", 2, 0)}))
	want := map[string]reading.Reading{
		"PS1": at("PS1", 5, 60), // the newest time, the last seq (the publisher's clock stepped back)
		"PS2": at("PS2", 3, 8),
		"TS1": at("TS1", 2, 1), // a reading without seq moves the time, not the seq
	}
	check := func(b *Buffer) {
		t.Helper()
		got, err := b.Latest(ctx)
		require.NoError(t, err)
		require.Len(t, got, len(want))
		for _, r := range got {
			w := want[r.Sensor]
			assert.True(t, w.Time.Equal(r.Time), r.Sensor)
			assert.Equal(t, w.Seq, r.Seq, r.Sensor)
		}
	}
	check(b)
	require.NoError(t, b.Close())
	b2 := openTest(t, path, Options{})
	check(b2)
	require.NoError(t, b2.Compact(ctx))
	check(b2)
}

func TestAbandonedAppendIsNotStored(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	var once sync.Once
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		OnCommit: func(CommitInfo) { once.Do(func() { <-release }) }, // stall the writer after the first commit
	})
	first := make(chan error, 1)
	go func() { first <- b.Append(ctx, testReadings(0, 10)) }()
	require.Eventually(t, func() bool { return b.LastSeq() == 10 }, 5*time.Second, time.Millisecond)

	// The writer is stalled: this Append waits in the queue, then gives up.
	rs := testReadings(100, 5)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.Append(cctx, rs), context.DeadlineExceeded)
	for i := range rs {
		rs[i].Sensor = "reused by the caller" // the buffer must not read rs any more
	}
	close(release)
	require.NoError(t, <-first)
	require.NoError(t, b.Append(ctx, testReadings(200, 1)))
	recs := readAll(t, b)
	require.Len(t, recs, 11, "the abandoned readings were not stored")
	assert.Equal(t, uint64(11), recs[10].Seq)
	assert.Equal(t, testReading(200), recs[10].Reading)
}
