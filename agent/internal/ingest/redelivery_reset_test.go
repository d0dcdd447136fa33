package ingest

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRedeliveredRestartedPublisherIsStored: an arrival-stamped reading
// redelivered by the broker (MQTT DUP) with a seq not after the mark is
// a duplicate only where it can have been stored unacknowledged: in the
// publisher's current count and less than MaxInFlight before the mark.
// A restarted publisher whose first delivery the agent did not store
// (its session ended first) is stored when redelivered, as a sequence
// reset, not dropped as a duplicate (review r4 finding 2).
func TestRedeliveredRestartedPublisherIsStored(t *testing.T) {
	seqMsg := func(seq int) string { return `{"v":1,"seq":` + strconv.Itoa(seq) + `}` }
	setup := func(t *testing.T, opts Options, from, to int) (*harness, func() time.Time) {
		h := newHarness(t, opts)
		now := clock
		h.in.opts.Now = func() time.Time { now = now.Add(time.Second); return now }
		for seq := from; seq <= to; seq++ {
			require.Len(t, h.send("t/a", seqMsg(seq)).readings, 1)
		}
		return h, h.in.opts.Now
	}

	t.Run("below the publisher's count", func(t *testing.T) {
		h, _ := setup(t, Options{}, 5, 7)
		it := h.sendDup("t/a", seqMsg(1))
		assert.Len(t, it.readings, 1, "a restarted publisher's redelivered first message was dropped")
		assert.Empty(t, rejected(it))
		assert.EqualValues(t, 1, h.in.Stats().SeqResets)
		// Its own redelivery now is a duplicate.
		it = h.sendDup("t/a", seqMsg(1))
		assert.Empty(t, it.readings)
		assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it))
	})
	t.Run("further back than in flight", func(t *testing.T) {
		h, _ := setup(t, Options{MaxInFlight: 4}, 1, 20)
		it := h.sendDup("t/a", seqMsg(3)) // 17 before the mark: never unacknowledged
		assert.Len(t, it.readings, 1)
		assert.EqualValues(t, 1, h.in.Stats().SeqResets)
	})
	t.Run("within in flight is a duplicate", func(t *testing.T) {
		h, _ := setup(t, Options{MaxInFlight: 4}, 1, 20)
		for _, seq := range []int{17, 20} {
			it := h.sendDup("t/a", seqMsg(seq))
			assert.Empty(t, it.readings, "seq %d", seq)
			assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it), "seq %d", seq)
		}
		assert.Zero(t, h.in.Stats().SeqResets)
	})
}
