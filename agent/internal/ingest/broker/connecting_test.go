package broker

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func pendingConns(b *Broker) int {
	return b.tcp.Pending()
}

// Connections that have not sent their CONNECT are capped by
// MaxConnecting: one beyond it is closed at once and counted; connected
// clients do not count, and a slot frees when a silent connection ends.
func TestMaxConnecting(t *testing.T) {
	b := start(t, Options{MaxConnecting: 2})

	// Connected clients do not count.
	mustClient(t, b.URL(), randomID("gw-"), true)
	mustClient(t, b.URL(), randomID("gw-"), true)
	waitFor(t, "connected clients no longer pending", func() bool { return pendingConns(b) == 0 })

	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", b.Addr())
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		silent = append(silent, c)
	}
	waitFor(t, "two connections awaiting CONNECT", func() bool { return pendingConns(b) == 2 })

	extra, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer extra.Close()
	require.NoError(t, extra.SetReadDeadline(time.Now().Add(time.Minute)))
	_, err = extra.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed by the broker at once")
	assert.EqualValues(t, 1, b.Stats().ConnectingRefused)

	_, err = client(t, b.URL(), randomID("gw-"), true)
	require.Error(t, err, "a client beyond the cap is refused too")

	require.NoError(t, silent[0].Close())
	waitFor(t, "the closed connection's slot free", func() bool { return pendingConns(b) == 1 })
	mustClient(t, b.URL(), randomID("gw-"), true)
	assert.EqualValues(t, 2, b.Stats().ConnectingRefused)
}
