package broker

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/mqttlisten"
)

// Defaults of the Options fields whose zero value means "default".
const (
	DefaultAddr             = "127.0.0.1:1883"
	DefaultMaxInflight      = 65535
	DefaultMaxWritesPending = 16384
	DefaultHighWater        = 8192
	DefaultMaxPublishWait   = 30 * time.Second
	DefaultMaxConnecting    = 256
	DefaultSessionExpiry    = time.Hour
	// DefaultMaxSessions applies when MaxClients is 0 too (no limit);
	// otherwise the default is 4 × MaxClients.
	DefaultMaxSessions = 4096
	// DefaultMaxPacketSize leaves room for a codec.MaxPayload payload and
	// its topic.
	DefaultMaxPacketSize = codec.MaxPayload + 64<<10
)

// Options configure a Broker. Every zero value means the default stated on
// its field.
type Options struct {
	// Addr is the TCP listen address (zero: DefaultAddr, loopback only).
	// Use port 0 for a free port (see Broker.Addr).
	Addr string
	// TLS, if set, makes the listener serve TLS, version 1.2 or later
	// whatever its MinVersion (set ClientAuth and ClientCAs in it to
	// require client certificates). It must hold Certificates: the
	// agent's own clients connect with Broker.ClientTLS, which accepts
	// only the first of them, and which presents a certificate of its own
	// that the listener trusts besides ClientCAs.
	TLS *tls.Config
	// Users, if not empty, are the only username/password pairs allowed
	// to connect (zero: anyone may connect, which suits a loopback
	// listener).
	Users map[string]string
	// Subscriber, if set, is the client id of the broker's consumer (the
	// agent's ingest): until that client has subscribed, every other
	// client is refused with "server unavailable" (a temporary refusal:
	// clients retry), so that no PUBLISH is acknowledged while no one
	// would receive it (mochi-mqtt acknowledges a QoS 1 message without
	// subscribers and drops it). Once it subscribed, the broker stays open
	// to everyone: its persistent session holds messages while it is away
	// (zero: no such wait).
	//
	// The Subscriber's client id is reserved to it: a CONNECT with that id
	// must log in with the login of Broker.SubscriberLogin (a username
	// and a random password made at Start, which no gateway knows, Users
	// or not), else it is refused (bad username or password), counted in
	// Stats.TakeoversRefused and logged. Gateways share the Users login,
	// so any of them could otherwise connect with the ingest's id and take
	// its persistent session over: its subscription and held messages.
	Subscriber string
	// Reserved are further client ids reserved, as Subscriber's is, to
	// the agent's own clients (its diagnosis publisher): a CONNECT with
	// one must log in with Broker.Login of that id (ReservedUsername and
	// a random password made at Start), else it is refused, counted in
	// Stats.TakeoversRefused and logged. Otherwise a gateway using one
	// would knock that client off at every connect, each taking the
	// session over from the other. They are not exempt from Subscriber's
	// wait. An empty id or Subscriber's own is an error.
	Reserved []string

	// MaxClients caps concurrent connections (zero: no limit). A client
	// beyond it is refused with "server busy".
	MaxClients int64
	// MaxConnecting caps the connections that have not sent their CONNECT
	// yet (MaxClients counts only those that did): a connection beyond it
	// is closed at once and counted in Stats.ConnectingRefused (zero:
	// DefaultMaxConnecting). Each such connection holds a descriptor for
	// up to 10 s; without a cap a flood of silent connections could
	// exhaust the agent's descriptors.
	MaxConnecting int

	// SessionExpiry is how long the broker keeps the session of a
	// client that went away with a persistent session (clean session
	// false; an MQTT 5 client's own Session Expiry Interval if shorter):
	// its subscriptions and the messages held for it (zero:
	// DefaultSessionExpiry; whole seconds, rounded up). mochi-mqtt's
	// MaximumSessionExpiryInterval: it removes expired sessions once a
	// second, and tells MQTT 5 clients asking for more. The ingest comes
	// back within its reconnect backoff (seconds); a gateway's session
	// matters only for its subscriptions. A session removed with messages
	// held is counted in Stats.SessionsExpired and
	// Stats.SessionMessagesDropped, and logged.
	SessionExpiry time.Duration
	// MaxSessions caps the sessions the broker stores, connected or
	// away (zero: 4 × MaxClients, or DefaultMaxSessions without
	// MaxClients; at least MaxClients). A new client id beyond it evicts
	// the session away the longest (never a reserved id's: Subscriber's,
	// Reserved's), counted in Stats.SessionsEvicted; when every stored
	// session is connected, the new one is stored over the cap
	// (MaxClients bounds those). Without it, gateways that connect with
	// a persistent session under a new client id at every boot would
	// each leave one behind until SessionExpiry.
	MaxSessions int

	// MaxInflight is the most QoS 1 and 2 messages the broker holds for
	// one client (sent and unacknowledged, or waiting while the client is
	// away): the Capabilities.MaximumInflight of mochi-mqtt, at most
	// 65535 (zero: DefaultMaxInflight). A message beyond it is dropped
	// and counted in Stats.InflightDropped.
	MaxInflight uint16
	// MaxWritesPending is the length of a client's outbound queue (zero:
	// DefaultMaxWritesPending). A message that finds it full is dropped
	// and counted in Stats.MessagesDropped; HighWater keeps QoS 1 and 2
	// traffic below it.
	MaxWritesPending int32
	// HighWater is the number of unacknowledged QoS 1 and 2 messages of a
	// connected client above which publishers are held back: a PUBLISH
	// from another client waits (its connection is not read meanwhile, so
	// TCP pushes back) until every connected subscriber is below it again,
	// or MaxPublishWait passed (zero: DefaultHighWater; it must be below
	// MaxInflight and MaxWritesPending). With Subscriber set, only the
	// clients with a reserved id (Subscriber's, Reserved's) hold
	// publishers back: another slow subscriber has its messages dropped
	// (counted) at MaxInflight or MaxWritesPending instead.
	HighWater int
	// MaxPublishWait bounds how long one PUBLISH is held back (zero:
	// DefaultMaxPublishWait). After it, the message is routed anyway and
	// may be dropped (counted) if the subscriber is still full.
	MaxPublishWait time.Duration
	// MaxPacketSize is the largest packet accepted (zero:
	// DefaultMaxPacketSize).
	MaxPacketSize uint32
	// Logger receives the broker's logs (nil: slog.Default()).
	Logger *slog.Logger
}

// ErrOptions is returned (wrapped) by Start for invalid Options.
var ErrOptions = errors.New("invalid embedded broker options")

func (o *Options) setDefaults() error {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.MaxWritesPending == 0 {
		o.MaxWritesPending = DefaultMaxWritesPending
	}
	if o.HighWater == 0 {
		o.HighWater = min(DefaultHighWater, int(o.MaxInflight)/2, int(o.MaxWritesPending)/2)
	}
	if o.MaxConnecting == 0 {
		o.MaxConnecting = DefaultMaxConnecting
	}
	if o.MaxPublishWait == 0 {
		o.MaxPublishWait = DefaultMaxPublishWait
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SessionExpiry == 0 {
		o.SessionExpiry = DefaultSessionExpiry
	}
	if o.MaxSessions == 0 {
		o.MaxSessions = DefaultMaxSessions
		if o.MaxClients > 0 {
			o.MaxSessions = int(min(4*o.MaxClients, math.MaxInt32))
		}
	}
	switch {
	case o.SessionExpiry < 0 || o.SessionExpiry > math.MaxUint32*time.Second:
		return fmt.Errorf("%w: SessionExpiry must be between 0 and %d s: %s", ErrOptions, uint32(math.MaxUint32), o.SessionExpiry)
	case o.MaxSessions < 0 || int64(o.MaxSessions) < o.MaxClients:
		return fmt.Errorf("%w: MaxSessions %d must not be negative nor below MaxClients (%d)", ErrOptions, o.MaxSessions, o.MaxClients)
	case o.MaxClients < 0:
		return fmt.Errorf("%w: MaxClients must not be negative: %d", ErrOptions, o.MaxClients)
	case o.MaxConnecting < 0:
		return fmt.Errorf("%w: MaxConnecting must not be negative: %d", ErrOptions, o.MaxConnecting)
	case o.MaxWritesPending < 0:
		return fmt.Errorf("%w: MaxWritesPending must not be negative: %d", ErrOptions, o.MaxWritesPending)
	case o.HighWater < 1 || o.HighWater >= int(o.MaxInflight) || o.HighWater >= int(o.MaxWritesPending):
		return fmt.Errorf("%w: HighWater %d must be at least 1 and below MaxInflight (%d) and MaxWritesPending (%d)",
			ErrOptions, o.HighWater, o.MaxInflight, o.MaxWritesPending)
	case o.MaxPublishWait < 0:
		return fmt.Errorf("%w: MaxPublishWait must not be negative: %s", ErrOptions, o.MaxPublishWait)
	}
	for i, id := range o.Reserved {
		if id == "" || id == o.Subscriber || slices.Contains(o.Reserved[:i], id) {
			return fmt.Errorf("%w: Reserved client id %q is empty, Subscriber's or listed twice", ErrOptions, id)
		}
	}
	return nil
}

// connectWait bounds the wait for a new connection's CONNECT packet (and
// its TLS handshake): mqttlisten.Config.ConnectWait (a variable for
// tests).
var connectWait = 10 * time.Second

// Broker is an embedded mochi-mqtt broker. Start it with Start; stop it
// with Drain (optional) and Close.
type Broker struct {
	opts Options
	srv  *mochi.Server
	tcp  *mqttlisten.Listener
	hook *hook
	// clientTLS is the agent's own clients' TLS config (nil without
	// Options.TLS), see ClientTLS.
	clientTLS *tls.Config

	closeOnce sync.Once
}

// Start starts a broker listening on opts.Addr.
func Start(opts Options) (*Broker, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	var clientTLS *tls.Config
	if opts.TLS != nil {
		var err error
		if opts.TLS, clientTLS, err = agentTLS(opts.TLS); err != nil {
			return nil, err
		}
	}
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = opts.MaxInflight
	if opts.MaxClients > 0 {
		caps.MaximumClients = opts.MaxClients
	}
	caps.MaximumClientWritesPending = opts.MaxWritesPending
	caps.MaximumPacketSize = opts.MaxPacketSize
	// Never expire held messages: a QoS 1 message waits for its
	// subscriber however long it is away.
	caps.MaximumMessageExpiryInterval = 0
	// Expire the sessions of clients away longer than SessionExpiry
	// (mochi-mqtt's default, MaxUint32 s, keeps them for ever: a gateway
	// with a new client id at every boot would grow the agent's memory
	// without limit). hook.OnClientExpired counts and cleans up.
	caps.MaximumSessionExpiryInterval = uint32((opts.SessionExpiry + time.Second - 1) / time.Second)
	srv := mochi.New(&mochi.Options{Capabilities: caps, Logger: opts.Logger.With("component", "mqtt-broker")})
	h := &hook{opts: &opts, srv: srv, log: opts.Logger}
	h.logins = make(map[string]login, 1+len(opts.Reserved))
	if opts.Subscriber != "" {
		h.logins[opts.Subscriber] = login{SubscriberUsername, rand.Text()} // 128 bits, new at every start
	}
	for _, id := range opts.Reserved {
		h.logins[id] = login{ReservedUsername, rand.Text()}
	}
	h.open.Store(opts.Subscriber == "")
	if err := srv.AddHook(h, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := mqttlisten.New(mqttlisten.Config{Address: opts.Addr, TLS: opts.TLS, ConnectWait: connectWait, MaxPending: opts.MaxConnecting})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", opts.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, fmt.Errorf("embedded broker: serve: %w", err)
	}
	b := &Broker{opts: opts, srv: srv, tcp: tcp, hook: h, clientTLS: clientTLS}
	opts.Logger.Info("embedded MQTT broker started", "addr", tcp.Address(), "tls", opts.TLS != nil,
		"client_certificates", opts.TLS != nil && opts.TLS.ClientAuth != tls.NoClientCert,
		"max_inflight", opts.MaxInflight, "high_water", opts.HighWater, "max_connecting", opts.MaxConnecting,
		"session_expiry", opts.SessionExpiry, "max_sessions", opts.MaxSessions)
	return b, nil
}

// Addr returns the address the broker listens on (with the real port when
// Options.Addr asked for port 0).
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL returns the broker's URL for clients: tcp://ADDR, or ssl://ADDR
// with TLS.
func (b *Broker) URL() string {
	if b.opts.TLS != nil {
		return "ssl://" + b.Addr()
	}
	return "tcp://" + b.Addr()
}

// ClientTLS returns the TLS config of the agent's own clients (the
// ingest, the diagnosis publisher) for URL, nil without Options.TLS. It
// accepts only the broker's own certificate (the first of
// Options.TLS.Certificates, compared byte for byte: no name or CA is
// checked, so any listen address works), and, when the listener asks for
// client certificates, presents one made at Start whose key never leaves
// the process, which the listener trusts besides Options.TLS.ClientCAs.
// Each call returns a new copy.
func (b *Broker) ClientTLS() *tls.Config {
	if b.clientTLS == nil {
		return nil
	}
	return b.clientTLS.Clone()
}

// SubscriberUsername is the username of the login reserved to
// Options.Subscriber (see Broker.SubscriberLogin).
const SubscriberUsername = "hydrognn-ingest"

// ReservedUsername is the username of the logins reserved to
// Options.Reserved's client ids (see Broker.Login).
const ReservedUsername = "hydrognn-agent"

// SubscriberLogin returns the only login with which a client may connect
// with Options.Subscriber's client id: SubscriberUsername and a random
// password made at Start (empty strings when Subscriber is not set). Give
// it to the ingest only; gateways log in with Users. It is
// Login(Options.Subscriber).
func (b *Broker) SubscriberLogin() (username, password string) {
	return b.Login(b.opts.Subscriber)
}

// Login returns the only login with which a client may connect with the
// reserved client id id (Options.Subscriber or one of Options.Reserved):
// a username (SubscriberUsername or ReservedUsername) and a random
// password made at Start, its own for each id; empty strings for an id
// that is not reserved. Give it to that client only.
func (b *Broker) Login(id string) (username, password string) {
	l, ok := b.hook.logins[id]
	if !ok || id == "" {
		return "", ""
	}
	return l.username, l.password
}

// Stats counts what the broker did.
type Stats struct {
	// ClientsConnected is the number of connected clients.
	ClientsConnected int64
	// MessagesReceived and MessagesSent count PUBLISH packets.
	MessagesReceived, MessagesSent int64
	// MessagesDropped counts messages dropped because a client's outbound
	// queue was full; InflightDropped those dropped because a client held
	// MaxInflight messages already. Both are data loss: with the defaults
	// and a subscriber that keeps up on average, they stay 0.
	MessagesDropped, InflightDropped int64
	// Inflight is the number of QoS 1 and 2 messages held now, counted
	// over the clients (never negative: see Broker.inflight).
	Inflight int64
	// HeldBack counts PUBLISH packets that had to wait for a subscriber
	// (HighWater); HeldBackTime is their total wait; HoldTimeouts those
	// that waited MaxPublishWait and went on anyway.
	HeldBack     uint64
	HeldBackTime time.Duration
	HoldTimeouts uint64
	// Rejected counts PUBLISH packets refused (not acknowledged) while
	// draining.
	Rejected uint64
	// TakeoversRefused counts CONNECT packets refused because they used
	// a reserved client id (Options.Subscriber's or one of
	// Options.Reserved) without its login.
	TakeoversRefused uint64
	// GateRefused counts CONNECT packets refused ("server unavailable")
	// because Options.Subscriber had not subscribed yet.
	GateRefused uint64
	// ConnectingRefused counts connections closed at once because
	// Options.MaxConnecting connections had not sent their CONNECT yet.
	ConnectingRefused uint64
	// Sessions is the number of sessions stored now: connected clients
	// and those away with a persistent session (Options.SessionExpiry,
	// Options.MaxSessions).
	Sessions int64
	// SessionsExpired counts sessions removed after Options.SessionExpiry
	// away; SessionsEvicted those removed to keep Options.MaxSessions.
	SessionsExpired, SessionsEvicted uint64
	// SessionMessagesDropped counts the messages held for those sessions
	// when they were removed (data loss for their subscribers).
	SessionMessagesDropped uint64
}

// inflight counts the QoS 1 and 2 messages the broker holds now, over its
// clients (those away with a session included). Not mochi-mqtt's
// Info.Inflight, which goes negative (v2.7.9): when a client resumes its
// session, inheritClientSession clones the old connection's in-flight
// messages into the new one, then clears the old one's with
// ClearInflights, which decrements Info.Inflight for each although they
// are still held; their acknowledgements decrement it again, so every
// message redelivered to a resumed session is subtracted twice.
func (b *Broker) inflight() int64 {
	var n int64
	for _, cl := range b.srv.Clients.GetAll() {
		n += int64(cl.State.Inflight.Len())
	}
	return n
}

// Stats returns a snapshot of the broker's counters.
func (b *Broker) Stats() Stats {
	i := b.srv.Info
	return Stats{
		ClientsConnected:  atomic.LoadInt64(&i.ClientsConnected),
		MessagesReceived:  atomic.LoadInt64(&i.MessagesReceived),
		MessagesSent:      atomic.LoadInt64(&i.MessagesSent),
		MessagesDropped:   atomic.LoadInt64(&i.MessagesDropped),
		InflightDropped:   atomic.LoadInt64(&i.InflightDropped),
		Inflight:          b.inflight(),
		HeldBack:          b.hook.heldBack.Load(),
		HeldBackTime:      time.Duration(b.hook.heldNanos.Load()),
		HoldTimeouts:      b.hook.holdTimeouts.Load(),
		Rejected:          b.hook.rejected.Load(),
		TakeoversRefused:  b.hook.takeovers.Load(),
		GateRefused:       b.hook.refused.Load(),
		ConnectingRefused: b.tcp.Refused(),

		Sessions:               int64(b.srv.Clients.Len()),
		SessionsExpired:        b.hook.expired.Load(),
		SessionsEvicted:        b.hook.evicted.Load(),
		SessionMessagesDropped: b.hook.sessionDropped.Load(),
	}
}

// Drain prepares an ordered stop: it refuses new connections and new
// PUBLISH packets (unacknowledged, so publishers send them again to the
// next broker), disconnects every client but keep, and waits until keep
// (the ingest's client id) has acknowledged every message the broker
// holds for it, or ctx is done. Then stop the ingest, and Close.
//
// Drain returns by ctx even if a client stopped reading: the other
// clients' connections are closed without a DISCONNECT packet, which
// mochi-mqtt writes under the client's write lock, held for as long as a
// write to a peer that stopped reading blocks (for ever with keep-alive
// 0). Clients reconnect after a closed connection as after a DISCONNECT.
func (b *Broker) Drain(ctx context.Context, keep string) error {
	b.hook.draining.Store(&keep)
	for id, cl := range b.srv.Clients.GetAll() {
		if id != keep && !cl.Closed() {
			cl.Stop(packets.ErrServerShuttingDown) // closes the connection; takes no lock
		}
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		cl, ok := b.srv.Clients.Get(keep)
		// A session being taken over (keep reconnecting) has handed its
		// messages to the new connection, which is not registered yet.
		// A publish that passed OnPublish before the drain began may not
		// be routed to keep yet, while its publisher is acknowledged
		// (routing: between OnPublish and OnPublished, or until its
		// publisher's read loop ends): wait for it too, or it would be
		// held for keep after the ingest stopped and lost with the broker.
		routing := b.hook.gate.routingTotal()
		if !ok || (cl.State.Inflight.Len() == 0 && !cl.IsTakenOver() && routing == 0) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded broker drain: %d messages for %q still unacknowledged, %d being routed: %w",
				cl.State.Inflight.Len(), keep, routing, ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops the listener and disconnects every client. Messages the
// broker holds are lost with it (it keeps nothing on disk): call Drain
// first. Close is idempotent.
//
// It stops the listener and waits for every connection's goroutine before
// mochi-mqtt's Server.Close, which then finds no client left: that one
// waits for its clients with a WaitGroup that a connection accepted
// meanwhile adds to (a race the race detector reported when a failed
// agent start closed the broker while gateways were connecting), and
// would wait for ever on a connection that sent no CONNECT yet.
//
// Closing the connections first also means that no DISCONNECT packet is
// written to a client: mochi-mqtt's DisconnectClient writes it under the
// client's write lock, which the client's write loop holds for as long as
// a write to a peer that stopped reading blocks (for ever with keep-alive
// 0, which sets no deadline).
func (b *Broker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.tcp.Stop()
		err = b.srv.Close()
		b.opts.Logger.Info("embedded MQTT broker stopped", "stats", fmt.Sprintf("%+v", b.Stats()))
	})
	return err
}

// hook authenticates, holds publishers back, and counts drops.
type hook struct {
	mochi.HookBase
	opts *Options
	srv  *mochi.Server
	log  *slog.Logger

	draining     atomic.Pointer[string] // the client kept while draining
	heldBack     atomic.Uint64
	heldNanos    atomic.Int64
	holdTimeouts atomic.Uint64
	rejected     atomic.Uint64
	lastDropLog  atomic.Int64
	order        atomic.Int64 // stamps every PUBLISH (Packet.Created)
	open         atomic.Bool  // Subscriber has subscribed (or none is set)
	refused      atomic.Uint64
	gate         gate

	logins       map[string]login // reserved client ids' logins (read only after Start)
	takeovers    atomic.Uint64    // CONNECTs with a reserved id refused
	lastTakeover atomic.Int64     // when one was last logged (unix nanoseconds)

	evictMu        sync.Mutex // one eviction pass at a time
	expired        atomic.Uint64
	evicted        atomic.Uint64
	sessionDropped atomic.Uint64
	lastSessionLog atomic.Int64 // when a removed session was last logged (unix nanoseconds)
}

// gate holds PUBLISH packets back while a persistent session is taken
// over. mochi-mqtt 2.7.9 copies the held messages of the old connection
// to the new one, then moves the subscriptions, then registers the new
// connection; a message routed in between goes to the old connection
// after the copy and is lost. So while a session is taken over, new
// PUBLISH packets wait in OnPublish, and the takeover waits for those
// already past OnPublish to be routed (OnPublished).
type gate struct {
	mu        sync.Mutex
	routing   map[string]int // publishes between OnPublish and OnPublished, per client
	total     int
	closedTil time.Time // publishes wait until then (or until reopened)
}

// enter waits while the gate is closed, then counts a publish of client
// id as routing.
func (g *gate) enter(id string, max time.Duration) {
	began := time.Now()
	for {
		g.mu.Lock()
		if now := time.Now(); !now.Before(g.closedTil) || now.Sub(began) > max {
			if g.routing == nil {
				g.routing = map[string]int{}
			}
			g.routing[id]++
			g.total++
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		time.Sleep(200 * time.Microsecond)
	}
}

// leave ends n routings of client id (all of them with n < 0).
func (g *gate) leave(id string, n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.routing[id]
	if n < 0 || n > c {
		n = c
	}
	if c -= n; c == 0 {
		delete(g.routing, id)
	} else {
		g.routing[id] = c
	}
	g.total -= n
}

// close makes new publishes wait for up to d, and waits up to d for the
// routing ones to finish.
func (g *gate) close(d time.Duration) {
	g.mu.Lock()
	g.closedTil = time.Now().Add(d)
	g.mu.Unlock()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		g.mu.Lock()
		n := g.total
		g.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// routingTotal is the number of publishes between OnPublish and
// OnPublished (or their publisher's disconnect).
func (g *gate) routingTotal() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total
}

func (g *gate) open() {
	g.mu.Lock()
	g.closedTil = time.Time{}
	g.mu.Unlock()
}

// takeoverWait bounds how long a session takeover holds publishers.
const takeoverWait = 2 * time.Second

func (h *hook) ID() string { return "hydrognn-broker" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish,
		mochi.OnPublishDropped, mochi.OnQosDropped, mochi.OnSessionEstablish, mochi.OnSessionEstablished,
		mochi.OnPublished, mochi.OnDisconnect, mochi.OnConnect, mochi.OnSubscribed, mochi.OnClientExpired}, []byte{b})
}

// Redelivery order. When a client resumes its session, mochi-mqtt 2.7.9
// resends the messages it holds sorted by uint16(Packet.Created), the
// arrival time in whole seconds: messages of one second go out in random
// order, though MQTT requires the original order [MQTT-4.6.0-1] and the
// ingest's duplicate detection relies on it. So OnPublish stamps every
// message with a counter in Created (unused otherwise once
// MaximumMessageExpiryInterval is 0), and OnSessionEstablish, just
// before the resend, renumbers the held messages 0..n-1 in stamp order,
// which the uint16 sort keeps.

// OnSessionEstablish renumbers the messages held for a returning client
// (see Redelivery order).
// It first makes room for a new session (see Options.MaxSessions).
func (h *hook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok {
		h.makeRoom()
		return
	}
	if pk.Connect.Clean {
		return
	}
	h.gate.close(takeoverWait) // reopened by OnSessionEstablished
	held := old.State.Inflight.GetAll(false)
	slices.SortStableFunc(held, func(a, b packets.Packet) int { return cmp.Compare(a.Created, b.Created) })
	for i, p := range held {
		// The old connection may still be reading acknowledgements: do not
		// bring back a message acknowledged meanwhile.
		if _, ok := old.State.Inflight.Get(p.PacketID); ok {
			p.Created = int64(i)
			old.State.Inflight.Set(p)
		}
	}
}

// login is the login reserved to one client id.
type login struct{ username, password string }

// OnConnectAuthenticate checks the user's password (when Users is set),
// reserves Options.Subscriber's and Options.Reserved's client ids to their
// own logins, and refuses every client but the kept one while draining.
func (h *hook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if keep := h.draining.Load(); keep != nil && cl.ID != *keep {
		return false
	}
	if l, ok := h.logins[cl.ID]; ok {
		if string(pk.Connect.Username) == l.username &&
			subtle.ConstantTimeCompare([]byte(l.password), pk.Connect.Password) == 1 {
			return true
		}
		h.refuseTakeover(cl, pk)
		return false
	}
	if len(h.opts.Users) == 0 {
		return true
	}
	want, ok := h.opts.Users[string(pk.Connect.Username)]
	return ok && subtle.ConstantTimeCompare([]byte(want), pk.Connect.Password) == 1
}

// takeoverLogEvery bounds how often refused takeovers are logged (a
// misconfigured gateway retries every few seconds).
const takeoverLogEvery = 10 * time.Second

// refuseTakeover counts and logs a CONNECT with a reserved client id
// (Options.Subscriber's or one of Options.Reserved) but without its login.
func (h *hook) refuseTakeover(cl *mochi.Client, pk packets.Packet) {
	n := h.takeovers.Add(1)
	now := time.Now().UnixNano()
	last := h.lastTakeover.Load()
	if last != 0 && now-last < int64(takeoverLogEvery) || !h.lastTakeover.CompareAndSwap(last, now) {
		return
	}
	msg := "embedded broker refused a client using the ingest's client id: only the ingest may use it (a gateway configured with it would take the ingest's session over); give the gateway another client id"
	if cl.ID != h.opts.Subscriber {
		msg = "embedded broker refused a client using a client id reserved to the agent's own client (its diagnosis publisher): a gateway configured with it would knock that client off; give the gateway another client id"
	}
	h.log.Warn(msg, "client_id", cl.ID, "remote", cl.Net.Remote, "username", string(pk.Connect.Username), "refused_total", n)
}

// OnConnect refuses every client but Options.Subscriber until that one
// subscribed (see Options.Subscriber).
func (h *hook) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	if h.open.Load() || cl.ID == h.opts.Subscriber {
		return nil
	}
	h.refused.Add(1)
	_ = h.srv.SendConnack(cl, packets.ErrServerUnavailable, false, nil)
	return packets.ErrServerUnavailable
}

// OnSubscribed opens the broker to every client once Options.Subscriber
// has subscribed (every filter granted).
func (h *hook) OnSubscribed(cl *mochi.Client, _ packets.Packet, codes []byte) {
	if h.open.Load() || cl.ID != h.opts.Subscriber {
		return
	}
	for _, c := range codes {
		if c >= packets.ErrUnspecifiedError.Code {
			return
		}
	}
	if h.open.CompareAndSwap(false, true) {
		h.log.Info("embedded broker open to every client: its subscriber has subscribed", "subscriber", cl.ID,
			"refused_before", h.refused.Load())
	}
}

// OnACLCheck allows every topic to every authenticated client.
func (h *hook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

// OnSessionEstablished reopens the gate after a takeover.
func (h *hook) OnSessionEstablished(*mochi.Client, packets.Packet) { h.gate.open() }

// OnPublished ends a routing counted by OnPublish.
func (h *hook) OnPublished(cl *mochi.Client, _ packets.Packet) { h.gate.leave(cl.ID, 1) }

// OnDisconnect forgets the routings of a client whose read loop ended
// (a publish that failed half-way never reaches OnPublished).
func (h *hook) OnDisconnect(cl *mochi.Client, _ error, _ bool) { h.gate.leave(cl.ID, -1) }

// OnPublish runs in the publishing client's read loop, before the broker
// acknowledges and routes the message: waiting here is back-pressure.
func (h *hook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	pk.Created = 1<<32 + h.order.Add(1) // above any renumbered message (see Redelivery order)
	if cl.Net.Inline || pk.FixedHeader.Qos == 0 {
		return pk, nil
	}
	if !h.holdBack(cl) {
		h.rejected.Add(1)
		return pk, packets.ErrRejectPacket
	}
	h.gate.enter(cl.ID, h.opts.MaxPublishWait)
	return pk, nil
}

// holdBack waits while a subscriber is full (at most MaxPublishWait). It
// returns false if the message must be refused: the broker is draining or
// the publisher went away.
func (h *hook) holdBack(cl *mochi.Client) bool {
	if h.draining.Load() != nil {
		return false
	}
	if !h.full(cl) {
		return true
	}
	began := time.Now()
	h.heldBack.Add(1)
	defer func() { h.heldNanos.Add(int64(time.Since(began))) }()
	wait := 100 * time.Microsecond
	for h.full(cl) {
		if time.Since(began) > h.opts.MaxPublishWait {
			h.holdTimeouts.Add(1)
			h.log.Warn("embedded broker: a subscriber stayed full; routing a held message anyway",
				"publisher", cl.ID, "waited", h.opts.MaxPublishWait)
			return true
		}
		if h.draining.Load() != nil || cl.Closed() {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Millisecond)
	}
	return true
}

// full reports whether a connected client other than pub holds HighWater
// or more unacknowledged QoS 1 and 2 messages. With Options.Subscriber
// set, only the clients with a reserved id (Subscriber's, Reserved's)
// count: any other client subscribing at QoS 1 and never acknowledging
// would otherwise hold every gateway back; its messages are dropped once
// it holds MaxInflight of them or its outbound queue is full (counted in
// Stats).
func (h *hook) full(pub *mochi.Client) bool {
	if h.opts.Subscriber != "" {
		for id := range h.logins {
			if cl, ok := h.srv.Clients.Get(id); ok && h.fullClient(cl, pub) {
				return true
			}
		}
		return false
	}
	for _, cl := range h.srv.Clients.GetAll() {
		if h.fullClient(cl, pub) {
			return true
		}
	}
	return false
}

func (h *hook) fullClient(cl, pub *mochi.Client) bool {
	return cl != pub && !cl.Closed() && cl.State.Inflight.Len() >= h.opts.HighWater
}

// OnPublishDropped logs (at most once a second) a message dropped for a
// full outbound queue; mochi counts it in Info.MessagesDropped.
func (h *hook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	h.logDrop("embedded broker dropped a message: client's outbound queue full", cl, pk)
}

// OnQosDropped logs a QoS message the broker gave up. A persistent
// session taken over by a reconnecting client is not a drop: mochi-mqtt
// clears the old connection's messages after handing them to the new
// one, and reports each as dropped.
func (h *hook) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	h.logDrop("embedded broker dropped a held QoS message", cl, pk)
}

func (h *hook) logDrop(msg string, cl *mochi.Client, pk packets.Packet) {
	now := time.Now().UnixNano()
	last := h.lastDropLog.Load()
	if now-last < int64(time.Second) || !h.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	h.log.Error(msg, "client", cl.ID, "topic", pk.TopicName, "stats", "see Broker.Stats")
}

// OnClientExpired counts a session mochi-mqtt removes after
// Options.SessionExpiry (or an MQTT 5 client's shorter interval) and
// removes its subscriptions, which mochi-mqtt 2.7.9 leaves in its topic
// tree (one entry per departed subscriber, for ever).
func (h *hook) OnClientExpired(cl *mochi.Client) {
	h.expired.Add(1)
	h.endSession(cl, "expired")
}

// makeRoom evicts sessions away the longest, reserved ids' excepted,
// until a new one fits under Options.MaxSessions. It runs after the
// client logged in (OnSessionEstablish), so unauthenticated clients
// cannot evict anyone.
func (h *hook) makeRoom() {
	if h.srv.Clients.Len() < h.opts.MaxSessions {
		return
	}
	h.evictMu.Lock()
	defer h.evictMu.Unlock()
	all := h.srv.Clients.GetAll()
	over := len(all) - h.opts.MaxSessions + 1
	if over <= 0 {
		return
	}
	away := make([]*mochi.Client, 0, len(all))
	for id, cl := range all {
		if _, reserved := h.logins[id]; !reserved && cl.StopTime() != 0 && !cl.IsTakenOver() {
			away = append(away, cl)
		}
	}
	slices.SortFunc(away, func(a, b *mochi.Client) int { return cmp.Compare(a.StopTime(), b.StopTime()) })
	for _, cl := range away[:min(over, len(away))] {
		// Only if the id has not come back meanwhile (a takeover marks
		// the old session first, then registers the new one). mochi-mqtt's
		// own expiry deletes by id the same way.
		if cur, ok := h.srv.Clients.Get(cl.ID); !ok || cur != cl || cl.IsTakenOver() {
			continue
		}
		h.evicted.Add(1)
		h.endSession(cl, "evicted")
		h.srv.Clients.Delete(cl.ID)
	}
}

// endSession removes what a session held: its subscriptions and
// messages, counted as dropped, and logs it (at most once every
// sessionLogEvery, and always for a reserved id).
func (h *hook) endSession(cl *mochi.Client, why string) {
	held := cl.State.Inflight.Len()
	h.srv.UnsubscribeClient(cl) // does nothing for a session taken over
	cl.ClearInflights()
	h.sessionDropped.Add(uint64(max(held, 0)))
	_, reserved := h.logins[cl.ID]
	now := time.Now().UnixNano()
	last := h.lastSessionLog.Load()
	if !reserved && (held == 0 || now-last < int64(sessionLogEvery) || !h.lastSessionLog.CompareAndSwap(last, now)) {
		return
	}
	lvl := slog.LevelInfo
	if held > 0 || reserved {
		lvl = slog.LevelWarn
	}
	h.log.Log(context.Background(), lvl, "embedded broker removed the session of a client away too long ("+why+"): its subscriptions and held messages are gone",
		"client_id", cl.ID, "away_since", time.Unix(cl.StopTime(), 0).UTC(), "held_messages", held,
		"session_expiry", h.opts.SessionExpiry, "max_sessions", h.opts.MaxSessions,
		"expired_total", h.expired.Load(), "evicted_total", h.evicted.Load())
}

// sessionLogEvery bounds how often removed sessions are logged.
const sessionLogEvery = 10 * time.Second
