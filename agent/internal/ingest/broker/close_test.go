package broker

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Close while gateways keep connecting (refused: the subscriber has not
// subscribed), as when an agent's start fails after the broker started:
// the race detector reported mochi-mqtt's Server.Close waiting on its
// clients' WaitGroup while a connection being accepted added to it.
func TestCloseWhileGatewaysConnect(t *testing.T) {
	for range 5 {
		b, err := Start(Options{Addr: "127.0.0.1:0", Subscriber: "ingest", Logger: testLogger(t)})
		require.NoError(t, err)
		url := b.URL()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		connected := make(chan struct{}, 4)
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = client(t, url, randomID("gw-"), true)
					select {
					case connected <- struct{}{}:
					default:
					}
				}
			})
		}
		<-connected
		require.NoError(t, b.Close())
		close(stop)
		wg.Wait()
	}
}

// A connection that never sends its CONNECT neither keeps Close waiting
// nor stays open: it is closed after connectWait.
func TestConnectionWithoutConnect(t *testing.T) {
	old := connectWait
	connectWait = 100 * time.Millisecond
	t.Cleanup(func() { connectWait = old })
	b := start(t, Options{})

	silent, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer silent.Close()
	_, err = silent.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "closed by the broker")

	connectWait = time.Hour
	b = start(t, Options{})
	silent3, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer silent3.Close()
	waitFor(t, "the connection accepted", func() bool { return b.tcp.Open() == 1 })
	require.NoError(t, b.Close(), "returns with a connection that sent no CONNECT")
	_, err = silent3.Read(make([]byte, 1))
	assert.Error(t, err, "closed by Close")
}
