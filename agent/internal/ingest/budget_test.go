package ingest

import (
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestInFlightBudgetCountsDecodedReadings: a small payload that decodes to
// many readings (a binary frame decodes to about 4.4 times its size) is
// charged for the readings it holds until it is acknowledged, not for its
// payload bytes only, so MaxInFlightBytes bounds the memory in flight
// (review r7 F5).
func TestInFlightBudgetCountsDecodedReadings(t *testing.T) {
	const n = 4096
	h := newHarness(t, Options{})
	h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) {
		rs := make([]reading.Reading, n)
		for i := range rs {
			rs[i] = reading.Reading{Sensor: b.Sensor, Time: b.Now.Add(time.Duration(i-n) * time.Millisecond), Value: 1}
		}
		return rs, nil
	}
	payload := "frame"
	m := &fakeMsg{topic: "t/p", payload: []byte(payload)}
	h.in.handle(h.s, m)
	it := <-h.s.queue
	require.Len(t, it.readings, n)
	want := len(payload) + n*int(unsafe.Sizeof(reading.Reading{}))
	st := h.in.Stats()
	assert.GreaterOrEqual(t, st.InFlightBytes, want, "the decoded readings are charged")
	assert.EqualValues(t, len(payload), st.Bytes, "Bytes still counts payload bytes")
	h.in.commit(h.s, []*item{it})
	assert.Zero(t, h.in.Stats().InFlightBytes, "all released at the acknowledgement")
}
