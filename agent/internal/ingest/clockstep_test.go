package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestArrivalStampsAfterClockStepsBack: readings without a time take the
// arrival time. After the agent's clock stepped back (a bad RTC at boot,
// then NTP), they are older than the sensor's mark, persisted across
// restarts: they are still stored, not rejected as duplicates and
// acknowledged (review r7 F4a). Readings with their own times keep the
// time check, and two arrival-stamped readings of one sensor in one
// message stay one.
func TestArrivalStampsAfterClockStepsBack(t *testing.T) {
	h := newHarness(t, Options{})
	now := clock.Add(2 * time.Hour) // the clock runs ahead
	h.in.opts.Now = func() time.Time { return now }
	it := h.send("t/a", `{"v":1}`)
	require.Len(t, it.readings, 1)
	require.Equal(t, now, it.readings[0].Time)

	now = clock // NTP steps it back
	for k := range 3 {
		now = now.Add(time.Second)
		it = h.send("t/a", `{"v":2}`)
		assert.Empty(t, rejected(it), "message %d after the step", k)
		assert.Len(t, it.readings, 1, "message %d after the step stored", k)
	}

	// After a restart, from the store's persisted marks.
	store := newStore()
	require.NoError(t, store.Append(t.Context(), []reading.Reading{{Sensor: "A", Time: clock.Add(2 * time.Hour), Value: 3}}))
	in, err := New(unitRig(), store, h.in.opts)
	require.NoError(t, err)
	require.NoError(t, in.resume(t.Context()))
	copy(in.pending, in.committed) // as a session starts
	h2 := &harness{t: t, in: in, dec: h.dec, s: &session{in: in, queue: make(chan *item, 16),
		budget: newBudget(16, 1<<20), stop: make(chan struct{}), abort: make(chan struct{})}}
	it = h2.send("t/a", `{"v":3}`)
	assert.Empty(t, rejected(it), "after a restart")
	assert.Len(t, it.readings, 1, "after a restart")

	// A reading with its own time older than the mark is still a duplicate.
	it = h2.send("t/a", js(4, clock, 0))
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it))
	// Two arrival-stamped readings of one sensor in one message: one.
	it = h2.send("t/b", batch(`{"sensor":"B","v":1}`, `{"sensor":"B","v":2}`))
	assert.Len(t, it.readings, 1)
	assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it))
}
