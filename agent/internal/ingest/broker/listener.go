package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectWait bounds the wait for a new connection's CONNECT packet (and
// its TLS handshake); mochi-mqtt replaces the deadline by the client's
// keep-alive once it has read the CONNECT (a variable for tests).
var connectWait = 10 * time.Second

// tcpListener is the broker's TCP (or TLS) listener, in place of
// mochi-mqtt's listeners.TCP. It keeps track of the connections it
// accepted, so that stop can close them and wait for their goroutines:
// mochi-mqtt 2.7.9's Server.Close waits for its clients with a WaitGroup
// that a connection accepted meanwhile adds to (a data race the race
// detector reports, see Broker.Close), and waits for ever on a connection
// that never sent its CONNECT (it sets no deadline before the CONNECT).
type tcpListener struct {
	id, address string
	tlsConfig   *tls.Config
	ln          net.Listener
	log         *slog.Logger
	connectWait time.Duration

	mu     sync.Mutex
	closed bool                  // under mu
	conns  map[net.Conn]struct{} // under mu: accepted, establish not returned
	wg     sync.WaitGroup        // the accept loop and each establish; Add under mu while !closed
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, address string, tlsConfig *tls.Config) *tcpListener {
	return &tcpListener{id: id, address: address, tlsConfig: tlsConfig, conns: map[net.Conn]struct{}{},
		connectWait: connectWait}
}

// Init opens the address.
func (l *tcpListener) Init(log *slog.Logger) error {
	l.log = log
	var err error
	if l.tlsConfig != nil {
		l.ln, err = tls.Listen("tcp", l.address, l.tlsConfig)
	} else {
		l.ln, err = net.Listen("tcp", l.address)
	}
	return err
}

// ID returns the listener's id.
func (l *tcpListener) ID() string { return l.id }

// Address returns the address listened on (with the real port once
// Init ran).
func (l *tcpListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.address
}

// Protocol returns "tcp".
func (l *tcpListener) Protocol() string { return "tcp" }

// Serve accepts connections and hands each to establish in its own
// goroutine, until stop.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed := l.closed
			l.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. too many open files: go on accepting once some close.
			l.log.Warn("embedded broker: accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		l.conns[conn] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		_ = conn.SetDeadline(time.Now().Add(l.connectWait))
		go func() {
			defer l.wg.Done()
			err := establish(l.id, conn)
			l.mu.Lock()
			delete(l.conns, conn)
			l.mu.Unlock()
			if err != nil {
				l.log.Debug("embedded broker: connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// Close implements listeners.Listener: mochi-mqtt's Server.Close calls
// it.
func (l *tcpListener) Close(closeClients listeners.CloseFn) {
	l.stop()
	closeClients(l.id)
}

// stop stops accepting, closes every connection still open and waits
// until the accept loop and every connection's goroutine have returned.
func (l *tcpListener) stop() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
	for c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}
