package liveness

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Cover beats for at most its bound: a covered step that hangs past it
// stalls the loop the stall limit later.
func TestCoverBounded(t *testing.T) {
	old := Interval
	Interval = time.Millisecond
	defer func() { Interval = old }()
	c := &fakeClock{t: time.Unix(1e9, 0)}
	r, err := New(time.Minute, c.now)
	require.NoError(t, err)
	b, err := r.Register("update")
	require.NoError(t, err)
	end := b.Cover(10 * time.Minute)
	defer end()
	c.add(9 * time.Minute)
	require.Eventually(t, func() bool { return r.Loops()[0].LastBeat.Equal(c.now()) }, 10*time.Second, time.Millisecond, "beaten for within its bound")
	c.add(2 * time.Minute) // past the bound: no beat any more
	time.Sleep(50 * Interval)
	c.add(2 * time.Minute) // and past the stall limit after the last beat
	time.Sleep(50 * Interval)
	require.Len(t, r.Stalled(), 1, "a step hung past its cover's bound")
}

// Sleep beats while it waits and ends early with its context.
func TestSleepBeats(t *testing.T) {
	old := Interval
	Interval = time.Millisecond
	defer func() { Interval = old }()
	var mu sync.Mutex
	n := 0
	r, err := New(time.Minute, func() time.Time { mu.Lock(); n++; mu.Unlock(); return time.Now() })
	require.NoError(t, err)
	b, err := r.Register("ingest")
	require.NoError(t, err)
	mu.Lock()
	n = 0
	mu.Unlock()
	require.True(t, Sleep(context.Background(), 30*time.Millisecond, b))
	mu.Lock()
	assert.GreaterOrEqual(t, n, 10, "beats while sleeping 30 ms at 1 ms")
	mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.False(t, Sleep(ctx, time.Hour, b))
	assert.False(t, Sleep(ctx, time.Hour, nil))
}
