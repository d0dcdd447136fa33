package liveness

import (
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// steppedClock is time.Now's kind of clock: its times carry a monotonic
// reading, and its wall clock can be stepped (NTP) without the monotonic
// reading moving.
type steppedClock struct {
	mu   sync.Mutex
	t    time.Time     // a time.Now value: wall and monotonic
	step time.Duration // whole seconds added to the wall clock only
}

func (c *steppedClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return withWallStep(c.t, c.step)
}

func (c *steppedClock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *steppedClock) stepWall(d time.Duration) { c.mu.Lock(); c.step += d; c.mu.Unlock() }

// withWallStep returns t with its wall clock moved by step (whole
// seconds) and its monotonic reading kept. A time with a monotonic
// reading keeps its wall seconds in bits 30-62 of its first word (Go's
// time.Time layout since 1.9); the caller checks the result.
func withWallStep(t time.Time, step time.Duration) time.Time {
	wall := (*uint64)(unsafe.Pointer(&t))
	*wall = uint64(int64(*wall) + int64(step/time.Second)<<30)
	return t
}

// An NTP step of the wall clock neither stalls a healthy loop (forward
// step) nor hides a hung one (backward step): time since a beat is
// measured on the monotonic clock, as time.Now's values carry it.
func TestWallClockStep(t *testing.T) {
	t0 := time.Now()
	if s := withWallStep(t0, time.Hour); s.Sub(t0) != 0 || s.Round(0).Sub(t0.Round(0)) != time.Hour {
		t.Skip("time.Time layout differs: cannot step a wall clock under a monotonic reading")
	}

	c := &steppedClock{t: t0}
	r, err := New(time.Minute, c.now)
	require.NoError(t, err)
	b, err := r.Register("ingest")
	require.NoError(t, err)
	c.add(time.Second)
	b.Beat()
	c.add(time.Second)
	c.stepWall(24 * time.Hour) // the RTC was a day slow
	assert.Empty(t, r.Stalled(), "a healthy loop 1 s after its beat, stalled by a forward step of the wall clock")

	c2 := &steppedClock{t: t0}
	r2, err := New(time.Minute, c2.now)
	require.NoError(t, err)
	hung, err := r2.Register("windowing")
	require.NoError(t, err)
	hung.Beat()
	c2.stepWall(-24 * time.Hour) // the RTC was a day fast
	c2.add(10 * time.Minute)
	st := r2.Stalled()
	require.Len(t, st, 1, "a loop hung for 10 min, hidden by a backward step of the wall clock")
	assert.Equal(t, "windowing", st[0].Name)
}
