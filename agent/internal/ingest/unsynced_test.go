package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFutureReadingsWhileClockUnsynced: when the agent's clock is behind
// (booted before NTP) and the kernel says it is not synchronised, readings
// with correct publisher times look ahead of it. They are stored and
// counted (Stats.FutureUnsynced), not rejected as future_time and
// acknowledged (review r7 F4b). Once the clock is synchronised, the check
// applies again.
func TestFutureReadingsWhileClockUnsynced(t *testing.T) {
	synced := false
	asked := 0
	h := newHarness(t, Options{ClockSynced: func() bool { asked++; return synced }})
	ahead := clock.Add(3 * time.Hour)
	it := h.send("t/b", batch(jr("B", 1, ahead, 1), jr("C", 1, ahead, 1)))
	require.NotNil(t, it)
	assert.Empty(t, rejected(it))
	assert.Len(t, it.readings, 2, "stored with their own times")
	assert.Equal(t, 1, asked, "asked once per message")
	assert.EqualValues(t, 2, h.in.Stats().FutureUnsynced)

	// Within the skew: not asked.
	it = h.send("t/a", js(1, clock.Add(30*time.Second), 2))
	assert.Len(t, it.readings, 1)
	assert.Equal(t, 1, asked)

	synced = true
	it = h.send("t/a", js(1, ahead.Add(time.Hour), 3))
	assert.Equal(t, map[Reason]uint32{ReasonFuture: 1}, rejected(it))
	assert.EqualValues(t, 2, h.in.Stats().FutureUnsynced)
}
