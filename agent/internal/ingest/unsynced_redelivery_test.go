package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedeliveredReadingsAheadOfUnsyncedClock: readings stored ahead of an
// unsynchronised clock (they do not move the duplicate mark) are not
// stored twice when the broker redelivers their message (MQTT QoS 1, the
// acknowledgement lost), in the same process and after a restart from
// the store's marks. A new message with a reading ahead but older than
// the newest stored ahead is still stored: such a reading does not
// blackhole the sensor (review r10 F2).
func TestRedeliveredReadingsAheadOfUnsyncedClock(t *testing.T) {
	opts := Options{ClockSynced: func() bool { return false }}
	h := newHarness(t, opts)
	// The harness commits without storing: store what it commits, for
	// the restart's marks.
	store := func(it *item) {
		require.NoError(t, h.in.store.Append(t.Context(), it.readings))
	}
	ahead := clock.Add(2 * time.Hour)
	msg := batch(jr("B", 1, ahead, 0), jr("B", 2, ahead.Add(time.Second), 0))
	it := h.send("t/b", msg)
	require.Len(t, it.readings, 2)
	store(it)

	it = h.sendDup("t/b", msg)
	assert.Empty(t, it.readings, "redelivered readings ahead of the clock stored again")
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 2}, rejected(it))

	it = h.send("t/b", batch(jr("B", 3, clock.Add(time.Hour), 0)))
	assert.Len(t, it.readings, 1, "a new reading ahead, older than the newest stored ahead")
	store(it)
	it = h.send("t/b", batch(jr("B", 4, clock.Add(time.Second), 0)))
	assert.Len(t, it.readings, 1, "a new reading within the skew")
	store(it)

	// After a restart, from the store's persisted marks.
	in, err := New(unitRig(), h.in.store, h.in.opts)
	require.NoError(t, err)
	require.NoError(t, in.resume(t.Context()))
	copy(in.pending, in.committed) // as a session starts
	h2 := &harness{t: t, in: in, dec: h.dec, s: &session{in: in, queue: make(chan *item, 16),
		budget: newBudget(16, 1<<20), stop: make(chan struct{}), abort: make(chan struct{})}}
	it = h2.sendDup("t/b", msg)
	assert.Empty(t, it.readings, "redelivered after a restart, stored again")
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 2}, rejected(it))

	// A redelivered message that was not stored (newer than every stored
	// reading) is stored.
	it = h2.sendDup("t/b", batch(jr("B", 5, ahead.Add(time.Minute), 0)))
	assert.Len(t, it.readings, 1)
}
