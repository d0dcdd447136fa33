package broker

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// connectWait bounds the wait for a new connection's CONNECT packet (and
// its TLS handshake); mochi-mqtt replaces the deadline by the client's
// keep-alive once it has read the CONNECT (a variable for tests).
var connectWait = 10 * time.Second

// Accept error backoff and log interval (variables for tests).
var (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	acceptLogEvery   = 10 * time.Second
)

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
	maxPending  int // most connections awaiting their CONNECT (0: no limit)

	mu      sync.Mutex
	closed  bool              // under mu
	conns   map[net.Conn]bool // under mu: accepted, establish not returned; true while awaiting CONNECT
	pending int               // under mu: conns awaiting CONNECT
	wg      sync.WaitGroup    // the accept loop and each establish; Add under mu while !closed

	refused atomic.Uint64 // connections closed at once: maxPending awaiting CONNECT already
}

var _ listeners.Listener = (*tcpListener)(nil)

func newTCPListener(id, address string, tlsConfig *tls.Config, maxPending int) *tcpListener {
	return &tcpListener{id: id, address: address, tlsConfig: tlsConfig, conns: map[net.Conn]bool{},
		connectWait: connectWait, maxPending: maxPending}
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
// goroutine, until stop. A connection beyond maxPending awaiting their
// CONNECT is closed at once (counted in refused): each holds a descriptor
// and two goroutines for up to connectWait, and a flood of them would
// otherwise exhaust the agent's descriptors. Accept errors (too many open
// files) are retried with an exponential backoff up to acceptBackoffMax
// and logged at most every acceptLogEvery.
func (l *tcpListener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	var (
		backoff   time.Duration
		failed    int // accept errors since the last log
		lastLog   time.Time
		lastRefus time.Time
	)
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
			failed++
			if time.Since(lastLog) >= acceptLogEvery {
				l.log.Warn("embedded broker: accept failed", "err", err, "failures", failed)
				lastLog, failed = time.Now(), 0
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		if l.maxPending > 0 && l.pending >= l.maxPending {
			l.mu.Unlock()
			_ = conn.Close()
			n := l.refused.Add(1)
			if time.Since(lastRefus) >= acceptLogEvery {
				l.log.Warn("embedded broker: closed a new connection: too many connections have not sent their CONNECT yet",
					"remote", conn.RemoteAddr().String(), "max", l.maxPending, "refused_total", n)
				lastRefus = time.Now()
			}
			continue
		}
		l.conns[conn] = true
		l.pending++
		l.wg.Add(1)
		l.mu.Unlock()
		_ = conn.SetDeadline(time.Now().Add(l.connectWait))
		pc := &pendingConn{Conn: conn, l: l}
		go func() {
			defer l.wg.Done()
			err := establish(l.id, pc)
			l.mu.Lock()
			if l.conns[conn] {
				l.pending--
			}
			delete(l.conns, conn)
			l.mu.Unlock()
			if err != nil {
				l.log.Debug("embedded broker: connection ended", "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// pendingConn is an accepted connection handed to mochi-mqtt. mochi-mqtt
// sets its deadline (by the client's keep-alive) once it has read a valid
// CONNECT: from then on the connection no longer awaits its CONNECT.
type pendingConn struct {
	net.Conn
	l    *tcpListener
	once sync.Once
}

func (c *pendingConn) SetDeadline(t time.Time) error {
	c.once.Do(func() {
		c.l.mu.Lock()
		if c.l.conns[c.Conn] {
			c.l.conns[c.Conn] = false
			c.l.pending--
		}
		c.l.mu.Unlock()
	})
	return c.Conn.SetDeadline(t)
}

// Close implements listeners.Listener: mochi-mqtt's Server.Close calls
// it. It does not call closeClients: once stop has closed every
// connection and waited for its goroutine, no client of this listener is
// open, so there is nothing left to disconnect, and mochi-mqtt 2.7.9's
// closeClients (Clients.GetByListener) takes the clients' read lock twice
// in a row, which deadlocks the broker for good when a session expiry
// (Clients.Delete) queues for the write lock in between
// (mochi-mqtt/server issue 488, unfixed in 2.7.9).
func (l *tcpListener) Close(listeners.CloseFn) {
	l.stop()
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
