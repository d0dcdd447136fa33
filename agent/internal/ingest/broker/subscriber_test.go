package broker

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// TestSubscriberGate: with Options.Subscriber, other clients are refused
// until that client subscribed, so nothing is acknowledged and dropped for
// want of a subscriber; then every message reaches it.
func TestSubscriberGate(t *testing.T) {
	id := randomID("ingest-")
	b := start(t, Options{Subscriber: id})
	_, err := client(t, b.URL(), randomID("gw-"), true)
	require.Error(t, err, "a gateway before the subscriber subscribed")

	got := &collector{}
	user, pass := b.SubscriberLogin()
	sub := mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetUsername(user).SetPassword(pass)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got.add(m) })
	})
	_, err = client(t, b.URL(), randomID("gw-"), true)
	require.Error(t, err, "connected but not subscribed yet")
	require.True(t, sub.Subscribe("t/gate", 1, nil).WaitTimeout(5*time.Second))

	gw := mustClient(t, b.URL(), randomID("gw-"), true)
	require.Equal(t, 20, publish(gw, "t/gate", 0, 20, 5))
	waitFor(t, "every message", func() bool { return got.len() == 20 })
	assert.EqualValues(t, 2, b.Stats().GateRefused, "the two gateways refused before the subscription")
}

// TestTakeoverIsNoDrop: a subscriber resuming its session gets the held
// messages, and the broker does not log them as dropped (mochi-mqtt
// reports the old connection's copies as dropped after the handover).
func TestTakeoverIsNoDrop(t *testing.T) {
	var logs syncbuf.Buffer
	b, err := Start(Options{Addr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	id := randomID("sub-")
	heldFor(t, b.URL(), id, "t/takeover", 10, 10).Disconnect(0)

	_, again := session(t, b.URL(), id, true)
	waitFor(t, "redelivery", func() bool { return again.len() == 10 })
	assert.NotContains(t, logs.String(), "dropped", "a takeover hands the messages over")
}

// TestSubscriberIDIsReserved: gateways share the Users login, so the
// Subscriber's client id is reserved to the login of SubscriberLogin. A
// client using the id with the gateways' login (or none) is refused,
// counted and logged, and the subscriber keeps its session: its
// subscription and the messages held for it.
func TestSubscriberIDIsReserved(t *testing.T) {
	var logs syncbuf.Buffer
	id := randomID("ingest-")
	b, err := Start(Options{Addr: "127.0.0.1:0", Subscriber: id, Users: map[string]string{"rig": "s3cret"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	user, pass := b.SubscriberLogin()
	require.Equal(t, SubscriberUsername, user)
	require.NotEmpty(t, pass)
	gwLogin := func(o *mqtt.ClientOptions) { o.SetUsername("rig").SetPassword("s3cret") }

	got := &collector{}
	sub := mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) {
		o.SetUsername(user).SetPassword(pass).SetAutoAckDisabled(true)
		o.SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { got.add(m) })
	})
	require.True(t, sub.Subscribe("t/reserved", 1, nil).WaitTimeout(5*time.Second))
	gw := mustClient(t, b.URL(), randomID("gw-"), true, gwLogin)
	require.Equal(t, 10, publish(gw, "t/reserved", 0, 10, 10))
	waitFor(t, "delivery", func() bool { return got.len() == 10 })

	for name, login := range map[string]func(*mqtt.ClientOptions){
		"gateways' login": gwLogin,
		"no login":        func(*mqtt.ClientOptions) {},
		"wrong password":  func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword("guess") },
		"users' password": func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword("s3cret") },
	} {
		_, err := client(t, b.URL(), id, false, login)
		require.Error(t, err, name)
	}
	assert.EqualValues(t, 4, b.Stats().TakeoversRefused)
	assert.Contains(t, logs.String(), "refused a client using the ingest's client id")
	assert.Equal(t, 1, strings.Count(logs.String(), "refused a client using the ingest's client id"), "rate-limited")
	assert.True(t, sub.IsConnectionOpen(), "the subscriber keeps its connection")
	cl, ok := b.srv.Clients.Get(id)
	require.True(t, ok)
	assert.Equal(t, 10, cl.State.Inflight.Len(), "and the messages held for it")

	// The login does not open other client ids, nor the Users login the
	// subscriber's id.
	_, err = client(t, b.URL(), randomID("gw-"), true, func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pass) })
	require.Error(t, err, "the subscriber's login is not a gateway login")

	// Without Subscriber there is no reserved id and no login.
	open := start(t, Options{})
	u, p := open.SubscriberLogin()
	assert.Empty(t, u+p)
}

// TestReservedIDsAreReserved: Options.Reserved's client ids (the agent's
// diagnosis publisher) are reserved like Subscriber's, each to its own
// login from Login: a gateway using one with the Users login is refused
// and counted, and cannot knock the agent's client off.
func TestReservedIDsAreReserved(t *testing.T) {
	var logs syncbuf.Buffer
	id, pubID := randomID("ingest-"), randomID("pub-")
	b, err := Start(Options{Addr: "127.0.0.1:0", Subscriber: id, Reserved: []string{pubID},
		Users: map[string]string{"rig": "s3cret"}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	user, pass := b.Login(pubID)
	require.Equal(t, ReservedUsername, user)
	require.NotEmpty(t, pass)
	su, sp := b.SubscriberLogin()
	require.NotEqual(t, pass, sp, "each reserved id has its own password")
	gwLogin := func(o *mqtt.ClientOptions) { o.SetUsername("rig").SetPassword("s3cret") }

	sub := mustClient(t, b.URL(), id, false, func(o *mqtt.ClientOptions) { o.SetUsername(su).SetPassword(sp) })
	require.True(t, sub.Subscribe("t/reserved-pub", 1, nil).WaitTimeout(5*time.Second))
	pub := mustClient(t, b.URL(), pubID, true, func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pass) })

	for name, login := range map[string]func(*mqtt.ClientOptions){
		"gateways' login":        gwLogin,
		"no login":               func(*mqtt.ClientOptions) {},
		"the subscriber's login": func(o *mqtt.ClientOptions) { o.SetUsername(su).SetPassword(sp) },
	} {
		_, err := client(t, b.URL(), pubID, true, login)
		require.Error(t, err, name)
	}
	assert.EqualValues(t, 3, b.Stats().TakeoversRefused)
	assert.Contains(t, logs.String(), "refused a client using a client id reserved to the agent's own client")
	assert.True(t, pub.IsConnectionOpen(), "the agent's client keeps its connection")
	// The reserved login opens neither the subscriber's id nor others.
	_, err = client(t, b.URL(), id, false, func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pass) })
	require.Error(t, err, "the publisher's login on the subscriber's id")
	_, err = client(t, b.URL(), randomID("gw-"), true, func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pass) })
	require.Error(t, err, "the publisher's login is not a gateway login")
	u, p := b.Login(randomID("gw-"))
	assert.Empty(t, u+p, "no login for an id not reserved")
}
