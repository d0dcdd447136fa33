package mqttlisten

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve opens l on a free loopback port and runs Serve in a goroutine
// with establish; the returned channel is closed when Serve returns.
func serve(t *testing.T, l *Listener, establish func(string, net.Conn) error) <-chan struct{} {
	t.Helper()
	require.NoError(t, l.Init(nil))
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve(establish)
	}()
	t.Cleanup(l.Stop)
	return served
}

// readErr reads one byte from c within d and returns the error (a
// timeout when c stayed open).
func readErr(t *testing.T, c net.Conn, d time.Duration) error {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	_, err := c.Read(make([]byte, 1))
	return err
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// A connection that Accept returned just as Close ran is closed, and
// Close waits for Serve to return. mochi-mqtt 2.7.9's listeners.TCP.Serve
// dropped such a connection without closing it: its client never read
// EOF. The hook holds Serve between Accept and its look at the
// connection until Close has begun, which makes the interleaving certain.
func TestAcceptDuringClose(t *testing.T) {
	l := New(Config{Address: "127.0.0.1:0"})
	accepted := make(chan struct{})
	closing := make(chan struct{})
	var closeReturned atomic.Bool
	l.afterAccept = func(net.Conn) {
		close(accepted)
		<-closing
		// Close has begun and waits for Serve: give it time to return
		// wrongly.
		time.Sleep(50 * time.Millisecond)
		assert.False(t, closeReturned.Load(), "Close returned while Serve was still running")
	}
	var established atomic.Int32
	served := serve(t, l, func(string, net.Conn) error { established.Add(1); return nil })

	c, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer c.Close()
	<-accepted
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		l.Close(func(string) { t.Error("Close called closeClients") })
		closeReturned.Store(true)
	}()
	require.Eventually(t, func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.closed }, 5*time.Second, time.Millisecond)
	close(closing)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
	err = readErr(t, c, 2*time.Second)
	require.Error(t, err)
	assert.False(t, isTimeout(err), "the connection accepted during Close must be closed, not left open: %v", err)
	assert.Zero(t, established.Load(), "a connection accepted during Close must not reach the server")
	assert.Zero(t, l.Open())
}

// Close closes the connections the server still holds and waits for
// their establish to return; one that never sent its CONNECT is closed
// after ConnectWait; Close before Serve makes Serve return at once.
func TestCloseClosesConnections(t *testing.T) {
	l := New(Config{Address: "127.0.0.1:0", ConnectWait: 100 * time.Millisecond})
	var done atomic.Int32
	serve(t, l, func(_ string, c net.Conn) error {
		defer done.Add(1)
		_, err := io.Copy(io.Discard, c) // reads until closed or the deadline
		return err
	})
	silent, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer silent.Close()
	err = readErr(t, silent, 5*time.Second)
	assert.ErrorIs(t, err, io.EOF, "closed after ConnectWait")

	l2 := New(Config{Address: "127.0.0.1:0"})
	var done2 atomic.Int32
	served := serve(t, l2, func(_ string, c net.Conn) error {
		defer done2.Add(1)
		_, err := io.Copy(io.Discard, c)
		return err
	})
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", l2.Address())
		require.NoError(t, err)
		defer c.Close()
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return l2.Open() == 3 && l2.Pending() == 3 }, 5*time.Second, time.Millisecond)
	l2.Close(nil)
	assert.EqualValues(t, 3, done2.Load(), "Close waits for every establish")
	<-served
	for _, c := range conns {
		err := readErr(t, c, 2*time.Second)
		assert.ErrorIs(t, err, io.EOF)
	}
	l2.Stop() // idempotent

	l3 := New(Config{Address: "127.0.0.1:0"})
	require.NoError(t, l3.Init(nil))
	l3.Stop()
	l3.Serve(func(string, net.Conn) error { t.Error("established after Stop"); return nil })
}

// A connection beyond MaxPending awaiting their CONNECT is closed at once
// and counted; one whose CONNECT was read (mochi-mqtt then sets its
// deadline) frees its slot.
func TestMaxPending(t *testing.T) {
	l := New(Config{Address: "127.0.0.1:0", MaxPending: 1})
	serve(t, l, func(_ string, c net.Conn) error {
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return err
		}
		_ = c.SetDeadline(time.Time{}) // as mochi-mqtt does once it read a CONNECT
		_, err := io.Copy(io.Discard, c)
		return err
	})
	first, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer first.Close()
	require.Eventually(t, func() bool { return l.Pending() == 1 }, 5*time.Second, time.Millisecond)
	extra, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer extra.Close()
	assert.ErrorIs(t, readErr(t, extra, 5*time.Second), io.EOF, "closed at once")
	assert.EqualValues(t, 1, l.Refused())

	_, err = first.Write([]byte{0x10})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return l.Pending() == 0 }, 5*time.Second, time.Millisecond)
	second, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer second.Close()
	require.Eventually(t, func() bool { return l.Pending() == 1 && l.Open() == 2 }, 5*time.Second, time.Millisecond)
	assert.EqualValues(t, 1, l.Refused())
}
