package mqttlisten

import (
	"errors"
	"io"
	"net"
	"sync"
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

// stallConn is an accepted connection whose first Close blocks until
// release is closed, as a TLS connection's close_notify write does on a
// peer that reads nothing.
type stallConn struct {
	net.Conn
	closing chan struct{} // closed when the first Close begins
	release chan struct{}
	once    sync.Once
}

func (c *stallConn) Close() error {
	first := false
	c.once.Do(func() { first = true })
	if first {
		close(c.closing)
		<-c.release
	}
	return c.Conn.Close()
}

// acceptHook wraps a net.Listener: accept runs in place of its Accept.
type acceptHook struct {
	net.Listener
	accept func() (net.Conn, error)
}

func (l acceptHook) Accept() (net.Conn, error) { return l.accept() }

// Stop closes the connections without holding the listener's mutex: a
// close that blocks (TLS close_notify to a stalled peer) must not block
// Serve, the other connections' cleanup or Open meanwhile.
func TestStopClosesOutsideTheLock(t *testing.T) {
	l := New(Config{Address: "127.0.0.1:0"})
	require.NoError(t, l.Init(nil))
	sc := &stallConn{closing: make(chan struct{}), release: make(chan struct{})}
	inner := l.ln
	l.ln = acceptHook{Listener: inner, accept: func() (net.Conn, error) {
		c, err := inner.Accept()
		if err != nil {
			return nil, err
		}
		sc.Conn = c
		return sc, nil
	}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve(func(_ string, c net.Conn) error {
			_, err := io.Copy(io.Discard, c)
			return err
		})
	}()
	c, err := net.Dial("tcp", l.Address())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return l.Open() == 1 }, 5*time.Second, time.Millisecond)

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		l.Stop()
	}()
	<-sc.closing
	open := make(chan int, 1)
	go func() { open <- l.Open() }()
	select {
	case <-open:
	case <-time.After(2 * time.Second):
		t.Error("Open blocked while Stop closed a connection: Stop holds the mutex over Close")
	}
	close(sc.release)
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not return")
	}
	<-served
	assert.Zero(t, l.Open())
}

// Stop cuts Serve's accept-error backoff short instead of waiting out
// its sleep (up to a second) while descriptors run out.
func TestStopDuringAcceptBackoff(t *testing.T) {
	l := New(Config{Address: "127.0.0.1:0"})
	require.NoError(t, l.Init(nil))
	var calls atomic.Int32
	eighth := make(chan struct{})
	l.ln = acceptHook{Listener: l.ln, accept: func() (net.Conn, error) {
		l.mu.Lock()
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		// The 8th failure sleeps 640 ms (5 ms doubled seven times).
		if calls.Add(1) == 8 {
			close(eighth)
		}
		return nil, errors.New("accept: too many open files")
	}}
	served := make(chan struct{})
	go func() {
		defer close(served)
		l.Serve(func(string, net.Conn) error { t.Error("established"); return nil })
	}()
	<-eighth
	time.Sleep(20 * time.Millisecond) // into the 640 ms sleep
	start := time.Now()
	l.Stop()
	took := time.Since(start)
	<-served
	assert.Less(t, took, 300*time.Millisecond, "Stop waited out the accept backoff")
}
