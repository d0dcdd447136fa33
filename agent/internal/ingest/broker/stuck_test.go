package broker

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stuckSubscriber connects a raw MQTT 3.1.1 client with keep-alive 0 (so
// the broker sets no deadline on its connection), subscribes it to topic
// at QoS 0 and never reads again.
func stuckSubscriber(t *testing.T, addr, id, topic string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	vh := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0, 0, byte(len(id))}
	connect := append([]byte{0x10, byte(len(vh) + len(id))}, vh...)
	_, err = c.Write(append(connect, id...))
	require.NoError(t, err)
	ack := make([]byte, 4)
	_, err = c.Read(ack)
	require.NoError(t, err)
	require.Equal(t, []byte{0x20, 2, 0, 0}, ack, "CONNACK accepted")
	sub := []byte{0x82, byte(2 + 2 + len(topic) + 1), 0, 1, 0, byte(len(topic))}
	sub = append(append(sub, topic...), 0)
	_, err = c.Write(sub)
	require.NoError(t, err)
	suback := make([]byte, 5)
	_, err = c.Read(suback)
	require.NoError(t, err)
	require.Equal(t, byte(0x90), suback[0], "SUBACK")
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	return c
}

// fillStuck publishes to topic until the broker's write to the stuck
// subscriber blocks (it holds that client's write lock meanwhile).
func fillStuck(t *testing.T, b *Broker, topic string) {
	t.Helper()
	pub := mustClient(t, b.URL(), randomID("pub-"), true)
	payload := make([]byte, 60<<10)
	for range 400 {
		tok := pub.Publish(topic, 0, false, payload)
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	waitFor(t, "every message received", func() bool { return b.Stats().MessagesReceived >= 400 })
	require.Less(t, b.Stats().MessagesSent, int64(400), "the broker's writes to the stuck subscriber block")
}

// returnsWithin fails the test if f has not returned after d (a hang, not
// a timing assertion: f returns at once when it works).
func returnsWithin(t *testing.T, what string, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s has not returned after %s", what, d)
	}
}

// Close returns while a subscriber that stopped reading (keep-alive 0, so
// no write deadline) blocks the broker's write to it: mochi-mqtt's
// DisconnectClient would wait for that client's write lock for ever.
func TestCloseWithStuckSubscriber(t *testing.T) {
	b, err := Start(Options{Addr: "127.0.0.1:0", Logger: testLogger(t)})
	require.NoError(t, err)
	stuckSubscriber(t, b.Addr(), randomID("stuck-"), "t")
	fillStuck(t, b, "t")
	returnsWithin(t, "Close", 20*time.Second, func() { require.NoError(t, b.Close()) })
}
