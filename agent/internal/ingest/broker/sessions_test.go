package broker

import (
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// departed connects n persistent sessions under new client ids, every
// subscribeEvery-th of them subscribed at QoS 1 to topic (never
// acknowledging), and disconnects each: a gateway that picks a new client
// id at every boot. It returns the ids in connect order.
func departed(tb testing.TB, b *Broker, n, subscribeEvery int, topic string) []string {
	tb.Helper()
	connected := b.Stats().ClientsConnected
	ids := make([]string, n)
	for i := range ids {
		ids[i] = randomID("esp32-")
		c := mustClient(tb, b.URL(), ids[i], false, func(o *mqtt.ClientOptions) { o.SetAutoAckDisabled(true) })
		if i%subscribeEvery == 0 {
			require.True(tb, c.Subscribe(topic, 1, nil).WaitTimeout(5*time.Second))
		}
		c.Disconnect(0)
	}
	waitFor(tb, "every departed client disconnected", func() bool { return b.Stats().ClientsConnected == connected })
	return ids
}

// TestDepartedSessionsExpire: the sessions of clients that went away with
// a persistent session (new client ids at every connect), and the
// messages held for their subscriptions, are removed after
// Options.SessionExpiry; mochi-mqtt's default kept them for ever (review
// r3 finding 1: about 135 KB each plus up to max_inflight messages).
func TestDepartedSessionsExpire(t *testing.T) {
	const n, every, msgs = 200, 10, 20
	b := start(t, Options{SessionExpiry: time.Second})
	departed(t, b, n, every, "t/departed")
	pub := mustClient(t, b.URL(), randomID("pub-"), true)
	require.Equal(t, msgs, publish(pub, "t/departed", 0, msgs, 10))
	// Everything is gone within the expiry and mochi-mqtt's 1 s sweep
	// (whole seconds): only the publisher's (clean) session is left.
	waitFor(t, "departed sessions removed", func() bool {
		return b.srv.Clients.Len() == 1 && b.Stats().Inflight == 0
	})
	assert.Empty(t, b.srv.Topics.Subscribers("t/departed").Subscriptions,
		"the expired sessions' subscriptions are removed from the topic tree too")
	require.Equal(t, msgs, publish(pub, "t/departed", msgs, msgs, 10))
	// (The publisher's own last message may count a moment longer.)
	waitFor(t, "nothing held for a departed subscriber", func() bool { return b.Stats().Inflight == 0 })

	st := b.Stats()
	assert.EqualValues(t, 1, st.Sessions)
	assert.EqualValues(t, n, st.SessionsExpired)
	assert.Zero(t, st.SessionsEvicted)
	// Messages published before a subscriber's session expired were held
	// for it, then dropped with it (counted).
	assert.LessOrEqual(t, st.SessionMessagesDropped, uint64(n/every*msgs))
}

// TestSessionCap: past Options.MaxSessions, a new client id evicts a
// session away (the longest away), never a connected one nor a reserved
// id's; the count stays at the cap.
func TestSessionCap(t *testing.T) {
	const maxSessions, n = 5, 30
	pubID := "agent-publisher"
	b := start(t, Options{MaxSessions: maxSessions, MaxClients: 4, Reserved: []string{pubID}})
	user, pass := b.Login(pubID)
	mustClient(t, b.URL(), pubID, false, func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(pass) }).Disconnect(0)
	waitFor(t, "reserved client disconnected", func() bool { return b.Stats().ClientsConnected == 0 })
	stay := randomID("stay-")
	conn := mustClient(t, b.URL(), stay, false)
	departed(t, b, 1, 1, "t/cap")
	waitFor(t, "reserved client and departed one stored", func() bool { return b.srv.Clients.Len() == 3 })
	for range n {
		mustClient(t, b.URL(), randomID("esp32-"), false).Disconnect(0)
		waitFor(t, "client disconnected", func() bool { return b.Stats().ClientsConnected == 1 })
	}

	st := b.Stats()
	assert.EqualValues(t, maxSessions, st.Sessions)
	assert.EqualValues(t, maxSessions, b.srv.Clients.Len())
	assert.EqualValues(t, 3+n-maxSessions, st.SessionsEvicted)
	_, ok := b.srv.Clients.Get(pubID)
	assert.True(t, ok, "a reserved id's session is never evicted")
	_, ok = b.srv.Clients.Get(stay)
	assert.True(t, ok, "a connected client's session is never evicted")
	assert.True(t, conn.IsConnectionOpen())
}

// TestSessionOptions: the session limits are checked and defaulted.
func TestSessionOptions(t *testing.T) {
	o := Options{MaxClients: 10}
	require.NoError(t, o.setDefaults())
	assert.Equal(t, DefaultSessionExpiry, o.SessionExpiry)
	assert.Equal(t, 40, o.MaxSessions)
	o = Options{}
	require.NoError(t, o.setDefaults())
	assert.Equal(t, DefaultMaxSessions, o.MaxSessions)
	for _, o := range []Options{{MaxClients: 10, MaxSessions: 9}, {SessionExpiry: -time.Second}, {MaxSessions: -1}} {
		require.ErrorIs(t, o.setDefaults(), ErrOptions, "%+v", o)
	}
}
