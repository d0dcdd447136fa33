package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOldReadingsWhileClockUnsynced: when the agent's clock is ahead (a
// bad RTC before NTP steps it back) and the kernel says it is not
// synchronised, readings with correct publisher times look older than
// MaxAge. They are stored and counted (Stats.OldUnsynced), not rejected
// as too_old and acknowledged (review r7 F4). Once the clock is
// synchronised, the check applies again.
func TestOldReadingsWhileClockUnsynced(t *testing.T) {
	synced := false
	asked := 0
	h := newHarness(t, Options{MaxAge: time.Hour, ClockSynced: func() bool { asked++; return synced }})
	behind := clock.Add(-3 * time.Hour)
	it := h.send("t/b", batch(jr("B", 1, behind, 1), jr("C", 1, behind, 1)))
	require.NotNil(t, it)
	assert.Empty(t, rejected(it))
	assert.Len(t, it.readings, 2, "stored with their own times")
	assert.Equal(t, 1, asked, "asked once per message")
	assert.EqualValues(t, 2, h.in.Stats().OldUnsynced)

	// Within the age: not asked.
	it = h.send("t/a", js(1, clock.Add(-30*time.Minute), 2))
	assert.Len(t, it.readings, 1)
	assert.Equal(t, 1, asked)

	synced = true
	it = h.send("t/a", js(1, clock.Add(-2*time.Hour), 3))
	assert.Equal(t, map[Reason]uint32{ReasonTooOld: 1}, rejected(it))
	assert.EqualValues(t, 2, h.in.Stats().OldUnsynced)
}
