package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sendDup handles one message as the broker's redelivery (the MQTT DUP
// flag set) and commits it as if stored.
func (h *harness) sendDup(topic, payload string) *item {
	h.t.Helper()
	m := &fakeMsg{topic: topic, payload: []byte(payload), dup: true}
	h.in.handle(h.s, m)
	it := <-h.s.queue
	h.in.commit(h.s, []*item{it})
	require.EqualValues(h.t, 1, m.acks.Load(), "acknowledged once")
	return it
}

// TestRedeliveredArrivalStampedSeqIsDuplicate: a reading without a time
// of its own (stamped with its arrival) but with a seq, redelivered by the
// broker after it was stored (its acknowledgement lost), is a duplicate by
// its seq: not stored again, not counted as a sequence reset, and the
// seq mark does not go back, so the next reading counts no gap. A first
// delivery with a lower seq is still a restarted publisher.
func TestRedeliveredArrivalStampedSeqIsDuplicate(t *testing.T) {
	h := newHarness(t, Options{})
	now := clock
	h.in.opts.Now = func() time.Time { return now }
	for seq := 5; seq <= 7; seq++ {
		now = now.Add(time.Second)
		it := h.send("t/a", `{"v":1,"seq":`+string(rune('0'+seq))+`}`)
		require.Len(t, it.readings, 1)
	}

	// The broker redelivers seq 6 and 7 (their acknowledgements lost).
	for seq := 6; seq <= 7; seq++ {
		now = now.Add(time.Second)
		it := h.sendDup("t/a", `{"v":1,"seq":`+string(rune('0'+seq))+`}`)
		assert.Empty(t, it.readings, "redelivered seq %d stored again", seq)
		assert.Equal(t, map[Reason]uint32{ReasonDuplicate: 1}, rejected(it), "redelivered seq %d", seq)
	}
	st := h.in.Stats()
	assert.Zero(t, st.SeqResets, "a redelivery counted as a sequence reset")

	now = now.Add(time.Second)
	it := h.send("t/a", `{"v":1,"seq":8}`)
	assert.Len(t, it.readings, 1)
	st = h.in.Stats()
	assert.Zero(t, st.Gaps, "the seq mark went back with the redelivery")
	assert.Zero(t, st.SeqResets)

	// A restarted publisher: a first delivery with a lower seq.
	now = now.Add(time.Second)
	it = h.send("t/a", `{"v":1,"seq":1}`)
	assert.Len(t, it.readings, 1)
	assert.EqualValues(t, 1, h.in.Stats().SeqResets)
}
