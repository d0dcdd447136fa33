package mqttbroker_test

import (
	"net"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
)

// Connections dialled while the broker closes: each must be closed (the
// client reads EOF or a reset), none left open. mochi-mqtt 2.7.9's
// listeners.TCP.Serve dropped a connection its Accept returned just as
// Close ran, without closing it: the client waited for ever (until a
// garbage collection happened to run the descriptor's finalizer, which
// this test turns off). The window is a few instructions wide, so this
// test dials in bursts over many rounds; shared/mqttlisten's
// TestAcceptDuringClose is the deterministic reproduction.
func TestConnectionsDialledDuringClose(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	for r := range rounds {
		b, err := mqttbroker.Start(mqttbroker.Options{})
		require.NoError(t, err)
		var (
			mu    sync.Mutex
			conns []net.Conn
			wg    sync.WaitGroup
		)
		stop := make(chan struct{})
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", b.Addr(), time.Second)
					if err != nil {
						continue // refused once the listener closed
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(r%5) * time.Millisecond)
		closeWithin(t, b, 10*time.Second)
		close(stop)
		wg.Wait()
		var open int
		var owg sync.WaitGroup
		for _, c := range conns {
			owg.Go(func() {
				defer c.Close()
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err := c.Read(make([]byte, 1))
				if isTimeout(err) {
					mu.Lock()
					open++
					mu.Unlock()
				}
			})
		}
		owg.Wait()
		require.Zero(t, open, "round %d: %d of %d connections dialled during Close left open after Close", r, open, len(conns))
	}
}
