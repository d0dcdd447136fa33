package mqttlisten

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// Accept error backoff and log interval.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	acceptLogEvery   = 10 * time.Second
)

// Config configures New.
type Config struct {
	// ID is the listener's id in the mochi-mqtt server (default "tcp").
	ID string
	// Address is the listen address (host:port; port 0 picks a free one).
	Address string
	// TLS, if set, makes the listener serve TLS.
	TLS *tls.Config
	// ConnectWait bounds the wait for a new connection's CONNECT packet
	// (and its TLS handshake); mochi-mqtt replaces the deadline by the
	// client's keep-alive once it has read the CONNECT. 0: no bound.
	ConnectWait time.Duration
	// MaxPending is the most connections awaiting their CONNECT: one
	// beyond it is closed at once and counted in Refused (0: no limit).
	MaxPending int
}

// Listener is a TCP (or TLS) listener for a mochi-mqtt server (see the
// package doc). Make one with New and give it to Server.AddListener.
type Listener struct {
	cfg Config
	ln  net.Listener
	log *slog.Logger

	mu      sync.Mutex
	closed  bool              // under mu
	done    chan struct{}     // closed (under mu) when closed is set: ends Serve's accept-error backoff
	conns   map[net.Conn]bool // under mu: accepted, establish not returned; true while awaiting CONNECT
	pending int               // under mu: conns awaiting CONNECT
	wg      sync.WaitGroup    // Serve and each establish; Add under mu while !closed

	refused atomic.Uint64 // connections closed at once: MaxPending awaiting CONNECT already

	// afterAccept, if set (by tests), runs after each successful Accept,
	// before the connection is looked at.
	afterAccept func(net.Conn)
}

var _ listeners.Listener = (*Listener)(nil)

// New returns a listener for cfg; Init (called by the server's
// AddListener) opens the address.
func New(cfg Config) *Listener {
	if cfg.ID == "" {
		cfg.ID = "tcp"
	}
	return &Listener{cfg: cfg, conns: map[net.Conn]bool{}, done: make(chan struct{}), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// Init implements listeners.Listener: it opens the address.
func (l *Listener) Init(log *slog.Logger) error {
	if log != nil {
		l.log = log
	}
	var err error
	if l.cfg.TLS != nil {
		l.ln, err = tls.Listen("tcp", l.cfg.Address, l.cfg.TLS)
	} else {
		l.ln, err = net.Listen("tcp", l.cfg.Address)
	}
	if err != nil {
		return fmt.Errorf("mqtt listener %q: %w", l.cfg.ID, err)
	}
	return nil
}

// ID implements listeners.Listener.
func (l *Listener) ID() string { return l.cfg.ID }

// Address implements listeners.Listener: the address listened on, with
// the real port once Init ran.
func (l *Listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.cfg.Address
}

// Protocol implements listeners.Listener: "tcp".
func (l *Listener) Protocol() string { return "tcp" }

// Refused is the number of connections closed at once because MaxPending
// connections were awaiting their CONNECT already.
func (l *Listener) Refused() uint64 { return l.refused.Load() }

// Pending is the number of open connections that have not sent their
// CONNECT yet.
func (l *Listener) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pending
}

// Open is the number of accepted connections the server has not let go
// of yet.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Serve implements listeners.Listener: it accepts connections and hands
// each to establish in its own goroutine, until Close. A connection
// accepted once Close has begun is closed at once. A connection beyond
// MaxPending awaiting their CONNECT is closed at once (counted in
// Refused): each holds a descriptor and two goroutines for up to
// ConnectWait, and a flood of them would exhaust the descriptors. Accept
// errors (too many open files) are retried with an exponential backoff
// up to a second (cut short by Stop) and logged at most every ten seconds.
func (l *Listener) Serve(establish listeners.EstablishFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.wg.Add(1)
	l.mu.Unlock()
	defer l.wg.Done()
	var (
		backoff    time.Duration
		failed     int // accept errors since the last log
		lastLog    time.Time
		lastRefuse time.Time
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
				l.log.Warn("mqtt listener: accept failed", "listener", l.cfg.ID, "err", err, "failures", failed)
				lastLog, failed = time.Now(), 0
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			select {
			case <-l.done: // Stop: it waits for Serve
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		if l.afterAccept != nil {
			l.afterAccept(conn)
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			_ = conn.Close()
			return
		}
		if l.cfg.MaxPending > 0 && l.pending >= l.cfg.MaxPending {
			l.mu.Unlock()
			n := l.refused.Add(1) // before Close: the client reads EOF with the count up
			_ = conn.Close()
			if time.Since(lastRefuse) >= acceptLogEvery {
				l.log.Warn("mqtt listener: closed a new connection: too many connections have not sent their CONNECT yet",
					"listener", l.cfg.ID, "remote", conn.RemoteAddr().String(), "max", l.cfg.MaxPending, "refused_total", n)
				lastRefuse = time.Now()
			}
			continue
		}
		l.conns[conn] = true
		l.pending++
		l.wg.Add(1)
		l.mu.Unlock()
		if l.cfg.ConnectWait > 0 {
			_ = conn.SetDeadline(time.Now().Add(l.cfg.ConnectWait))
		}
		pc := &pendingConn{Conn: conn, l: l}
		go func() {
			defer l.wg.Done()
			err := establish(l.cfg.ID, pc)
			_ = conn.Close() // mochi-mqtt has closed it already; make sure
			l.mu.Lock()
			if l.conns[conn] {
				l.pending--
			}
			delete(l.conns, conn)
			l.mu.Unlock()
			if err != nil {
				l.log.Debug("mqtt listener: connection ended", "listener", l.cfg.ID, "remote", conn.RemoteAddr().String(), "err", err)
			}
		}()
	}
}

// pendingConn is an accepted connection handed to mochi-mqtt. mochi-mqtt
// sets its deadline (by the client's keep-alive) once it has read a valid
// CONNECT: from then on the connection no longer awaits its CONNECT.
type pendingConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

// SetDeadline marks the connection as no longer awaiting its CONNECT and
// sets its deadline. This relies on mochi-mqtt 2.7.9, whose only deadline
// call is SetDeadline (Client.refreshDeadline, once a CONNECT was read):
// check that again on an upgrade, for a later one that called
// SetReadDeadline instead would leave the slot counted as pending until
// establish returned, and MaxPending would refuse good clients.
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

// Close implements listeners.Listener (mochi-mqtt's Server.Close calls
// it): it is Stop. It never calls closeClients (see the package doc):
// once Stop returns, no client of this listener is open.
func (l *Listener) Close(listeners.CloseFn) { l.Stop() }

// Stop stops accepting, closes every connection still open and waits
// until Serve and every connection's establish have returned. A
// connection accepted meanwhile is closed by Serve. Stop is idempotent
// and may be called before the server's Close, which then finds no
// client of this listener left. The connections are closed after mu is
// released: closing a TLS connection writes close_notify and can block
// (up to 5 s) on a peer that reads nothing, and Serve and every
// establish's cleanup take mu.
func (l *Listener) Stop() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.done)
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
	conns := make([]net.Conn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	l.wg.Wait()
}
