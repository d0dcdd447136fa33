package publish

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/diag"
)

// silentBroker accepts MQTT connections, answers CONNECT with CONNACK and
// then never acknowledges anything; it counts the bytes read after
// CONNECT.
func silentBroker(t *testing.T) (url string, after *atomic.Int64) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	after = &atomic.Int64{}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				hdr := make([]byte, 1)
				if _, err := io.ReadFull(c, hdr); err != nil {
					return
				}
				n, mult := 0, 1
				for {
					if _, err := io.ReadFull(c, hdr); err != nil {
						return
					}
					n += int(hdr[0]&0x7f) * mult
					mult *= 128
					if hdr[0]&0x80 == 0 {
						break
					}
				}
				if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
					return
				}
				if _, err := c.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil {
					return
				}
				buf := make([]byte, 4096)
				for {
					k, err := c.Read(buf)
					after.Add(int64(k))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return "tcp://" + l.Addr().String(), after
}

// Run returns soon after its ctx is done even while a publish waits for
// an acknowledgement that does not come: it used to wait PublishTimeout
// for each of MaxAttempts tries, past the agent's stop budget.
func TestRunStopsWhileWaitingForAck(t *testing.T) {
	url, after := silentBroker(t)
	p, err := New(Options{Broker: url, ClientID: "pub", Topic: "rig/diagnoses", PublishTimeout: time.Hour,
		KeepAlive: time.Hour, Logger: quiet()}) // no PINGREQ the silent broker would leave unanswered
	require.NoError(t, err)
	require.NoError(t, p.Enqueue(context.Background(), diag.Diagnosis{Seq: 1}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	require.Eventually(t, func() bool { return after.Load() > 0 }, 20*time.Second, 10*time.Millisecond, "the PUBLISH was sent")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(time.Minute): // far below PublishTimeout (1 h)
		t.Fatal("Run did not return after its ctx was done: it waits for the acknowledgement")
	}
	require.Equal(t, 1, p.Stats().Queued, "the unacknowledged diagnosis stays queued")
}
