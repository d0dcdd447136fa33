package broker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestInflightAfterRedelivery: Stats.Inflight counts the messages held for
// a subscriber, while it is connected, while it is away and after they
// are redelivered to its resumed session and acknowledged: 0 then, not
// negative (mochi-mqtt's Info.Inflight counts each message redelivered to
// a resumed session off twice: it read -n here).
func TestInflightAfterRedelivery(t *testing.T) {
	b := start(t, Options{})
	id := randomID("sub-")
	const n = 20
	sub := heldFor(t, b.URL(), id, "t/inflight", n, 5)
	assert.EqualValues(t, n, b.Stats().Inflight, "held for the connected subscriber")
	sub.Disconnect(0)
	waitFor(t, "the subscriber away", func() bool { return b.Stats().ClientsConnected == 1 })
	assert.EqualValues(t, n, b.Stats().Inflight, "held for the subscriber away")

	// Twice: each resumed session redelivers, the last one acknowledges.
	sub, again := session(t, b.URL(), id, false)
	waitFor(t, "redelivery", func() bool { return again.len() == n })
	assert.EqualValues(t, n, b.Stats().Inflight, "held again for the resumed session")
	sub.Disconnect(0)
	waitFor(t, "the subscriber away", func() bool { return b.Stats().ClientsConnected == 1 })

	_, last := session(t, b.URL(), id, true)
	waitFor(t, "redelivery", func() bool { return last.len() == n })
	waitFor(t, "the acknowledgements", func() bool { return b.Stats().Inflight <= 0 })
	time.Sleep(50 * time.Millisecond) // any late decrement
	assert.Zero(t, b.Stats().Inflight, "all acknowledged")
}
