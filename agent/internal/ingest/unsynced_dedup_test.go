package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestUnsyncedFutureReadingDoesNotBlackholeSensor: while the clock is not
// synchronised, a reading far ahead (70 years: a unit mix-up) is still
// rejected as future_time (MaxUnsyncedSkew), and one ahead by less is
// stored without moving the sensor's duplicate mark, so later correct
// readings without seq are not rejected as duplicates (review r10 F2).
// Within its own message such a reading is still checked for duplicates.
func TestUnsyncedFutureReadingDoesNotBlackholeSensor(t *testing.T) {
	h := newHarness(t, Options{ClockSynced: func() bool { return false }})
	it := h.send("t/a", js(1, clock.AddDate(70, 0, 0), 0))
	require.NotNil(t, it)
	assert.Equal(t, map[Reason]uint32{ReasonFuture: 1}, rejected(it), "beyond MaxUnsyncedSkew")
	assert.Empty(t, it.readings)

	it = h.send("t/a", js(1, clock.Add(20*time.Hour), 0))
	assert.Len(t, it.readings, 1, "ahead of the unsynced clock, within MaxUnsyncedSkew: stored")
	for k := 1; k <= 3; k++ {
		it = h.send("t/a", js(1, clock.Add(time.Duration(k)*time.Second), 0))
		assert.Empty(t, rejected(it), "reading %d", k)
		assert.Len(t, it.readings, 1, "reading %d stored", k)
	}

	ahead := clock.Add(2 * time.Hour)
	it = h.send("t/b", batch(jr("B", 1, ahead, 0), jr("B", 2, ahead, 0), jr("B", 3, ahead.Add(time.Second), 0)))
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it), "a duplicate within the message")
	assert.Len(t, it.readings, 2)
}

// TestResumeIgnoresMarkAheadOfClock: a store's newest time ahead of the
// agent's clock (stored while it was not synchronised) does not become the
// duplicate mark after a restart (review r10 F2: the sensor was
// blackholed across restarts).
func TestResumeIgnoresMarkAheadOfClock(t *testing.T) {
	h := newHarness(t, Options{ClockSynced: func() bool { return false }})
	require.NoError(t, h.in.store.Append(context.Background(),
		[]reading.Reading{{Sensor: "A", Time: clock.Add(20 * time.Hour), Value: 1}}))
	require.NoError(t, h.in.resume(context.Background()))
	copy(h.in.pending, h.in.committed) // as a session does
	it := h.send("t/a", js(1, clock.Add(time.Second), 0))
	assert.Empty(t, rejected(it))
	assert.Len(t, it.readings, 1, "stored, not a duplicate")
}
