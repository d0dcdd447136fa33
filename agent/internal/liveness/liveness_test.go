package liveness

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestStalledAfterLimit(t *testing.T) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r, err := New(time.Minute, c.now)
	require.NoError(t, err)
	ingest, err := r.Register("ingest")
	require.NoError(t, err)
	win, err := r.Register("windowing")
	require.NoError(t, err)
	assert.Empty(t, r.Stalled())

	c.add(time.Minute) // at the limit: not yet
	assert.Empty(t, r.Stalled())
	ingest.Beat()
	c.add(time.Second)
	st := r.Stalled()
	require.Len(t, st, 1)
	assert.Equal(t, "windowing", st[0].Name)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), st[0].LastBeat.UTC())

	win.Beat() // recovers
	assert.Empty(t, r.Stalled())

	win.Done() // a loop that returned is not hung
	c.add(time.Hour)
	st = r.Stalled()
	require.Len(t, st, 1)
	assert.Equal(t, "ingest", st[0].Name)
	win.Beat()
	ingest.Beat()
	assert.Empty(t, r.Stalled())

	again, err := r.Register("ingest")
	require.NoError(t, err)
	assert.Same(t, ingest, again)
	assert.Len(t, r.Loops(), 2)
}

func TestNilBeater(t *testing.T) {
	var b *Beater
	b.Beat()
	b.Done()
	b.Cover(time.Minute)()
}

func TestNewRefusesNoLimit(t *testing.T) {
	_, err := New(0, nil)
	require.Error(t, err)
}

func TestRegisterCapped(t *testing.T) {
	r, err := New(time.Minute, nil)
	require.NoError(t, err)
	for i := range MaxLoops {
		_, err := r.Register(string(rune('a' + i)))
		require.NoError(t, err)
	}
	_, err = r.Register("one more")
	require.ErrorContains(t, err, "MaxLoops")
}

// Cover beats while a long step runs: the loop is not stalled meanwhile,
// and is once the cover ended and the loop stays silent.
func TestCoverBeats(t *testing.T) {
	old := Interval
	Interval = 5 * time.Millisecond
	defer func() { Interval = old }()
	c := &fakeClock{t: time.Unix(1e9, 0)}
	r, err := New(time.Minute, c.now)
	require.NoError(t, err)
	b, err := r.Register("update")
	require.NoError(t, err)
	end := b.Cover(time.Hour)
	c.add(2 * time.Minute)
	require.Eventually(t, func() bool { return len(r.Stalled()) == 0 }, 10*time.Second, 5*time.Millisecond)
	end()
	c.add(2 * time.Minute)
	require.Len(t, r.Stalled(), 1)
}
