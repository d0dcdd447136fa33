package broker

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestInflightAfterRedelivery: Stats.Inflight counts the messages held for
// a subscriber, while it is connected, while it is away and after they
// are redelivered to its resumed session and acknowledged: 0 then, not
// negative (mochi-mqtt's Info.Inflight counts each message redelivered to
// a resumed session off twice: it read -n here).
func TestInflightAfterRedelivery(t *testing.T) {
	b := start(t, Options{})
	id := randomID("sub-")
	first := &collector{}
	sub := mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(true) // never acknowledge
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { first.add(m) })
	})
	require.True(t, sub.Subscribe("t/inflight", 1, nil).WaitTimeout(5*time.Second))
	pub := mustClient(t, b.URL(), randomID("pub-"), true)
	const n = 20
	require.Equal(t, n, publish(pub, "t/inflight", 0, n, 5))
	waitFor(t, "first delivery", func() bool { return first.len() == n })
	assert.EqualValues(t, n, b.Stats().Inflight, "held for the connected subscriber")
	sub.Disconnect(0)
	waitFor(t, "the subscriber away", func() bool { return b.Stats().ClientsConnected == 1 })
	assert.EqualValues(t, n, b.Stats().Inflight, "held for the subscriber away")

	// Twice: each resumed session redelivers, the last one acknowledges.
	again := &collector{}
	sub = mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(true)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { again.add(m) })
	})
	waitFor(t, "redelivery", func() bool { return again.len() == n })
	assert.EqualValues(t, n, b.Stats().Inflight, "held again for the resumed session")
	sub.Disconnect(0)
	waitFor(t, "the subscriber away", func() bool { return b.Stats().ClientsConnected == 1 })

	last := &collector{}
	mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { last.add(m) })
	})
	waitFor(t, "redelivery", func() bool { return last.len() == n })
	waitFor(t, "the acknowledgements", func() bool { return b.Stats().Inflight <= 0 })
	time.Sleep(50 * time.Millisecond) // any late decrement
	assert.Zero(t, b.Stats().Inflight, "all acknowledged")
}
