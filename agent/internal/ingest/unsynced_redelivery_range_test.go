package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedeliveryAfterFarAheadReadingIsStored: with the clock not
// synchronised, one reading stored far ahead (a publisher's clock glitch)
// does not make redeliveries of later messages with earlier times
// duplicates: those were never stored (their session ended first) and
// are stored, while a redelivery of what was stored after the glitch is
// still a duplicate (review r4 finding 3).
func TestRedeliveryAfterFarAheadReadingIsStored(t *testing.T) {
	h := newHarness(t, Options{ClockSynced: func() bool { return false }})
	ahead := clock.Add(2 * time.Hour)
	require.Len(t, h.send("t/b", batch(jr("B", 1, ahead, 0))).readings, 1)
	require.Len(t, h.send("t/b", batch(jr("B", 2, clock.Add(20*time.Hour), 0))).readings, 1, "the glitch")
	stored := batch(jr("B", 3, ahead.Add(time.Second), 0), jr("B", 4, ahead.Add(2*time.Second), 0))
	require.Len(t, h.send("t/b", stored).readings, 2)

	// Received but never stored (the session ended), then redelivered.
	it := h.sendDup("t/b", batch(jr("B", 5, ahead.Add(3*time.Second), 0)))
	assert.Len(t, it.readings, 1, "a redelivery never stored was dropped as a duplicate")
	assert.Empty(t, rejected(it))

	// What was stored after the glitch is still a duplicate when redelivered.
	it = h.sendDup("t/b", stored)
	assert.Empty(t, it.readings)
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 2}, rejected(it))
	it = h.sendDup("t/b", batch(jr("B", 5, ahead.Add(3*time.Second), 0)))
	assert.Empty(t, it.readings)
}
