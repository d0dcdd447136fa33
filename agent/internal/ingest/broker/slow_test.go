package broker

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// With Options.Subscriber set, a client that subscribes to every topic at
// QoS 1 and never acknowledges does not hold the gateways back: only the
// ingest (and the reserved ids) count for HighWater.
func TestSlowOtherSubscriberHoldsNoOneBack(t *testing.T) {
	id := randomID("ingest-")
	b := start(t, Options{Subscriber: id, HighWater: 10, MaxPublishWait: 2 * time.Second})
	got := &collector{}
	user, pass := b.SubscriberLogin()
	sub := mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetUsername(user).SetPassword(pass)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got.add(m) })
	})
	require.True(t, sub.Subscribe("t/slow", 1, nil).WaitTimeout(5*time.Second))

	rogue := &collector{}
	r := mustClient(t, b.URL(), randomID("rogue-"), true, func(o *mqtt.ClientOptions) {
		o.SetAutoAckDisabled(true) // never acknowledges
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { rogue.add(m) })
	})
	require.True(t, r.Subscribe("#", 1, nil).WaitTimeout(5*time.Second))

	gw := mustClient(t, b.URL(), randomID("gw-"), true)
	require.Equal(t, 30, publish(gw, "t/slow", 0, 30, 5))
	waitFor(t, "every message at the ingest", func() bool { return got.len() == 30 })
	waitFor(t, "every message at the rogue subscriber", func() bool { return rogue.len() == 30 })
	assert.Zero(t, b.Stats().HoldTimeouts, "no publish waited MaxPublishWait for the rogue subscriber")
}
