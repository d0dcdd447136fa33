package publish

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Source is what Run needs from a reading generator (the simulator, a
// replayed recording).
//
// Stream calls emit with batches of readings in time order (each batch's
// readings sorted by Time, and no batch older than the one before), starting
// at simulated time start, until the stream ends (return nil), ctx is done
// (return ctx.Err()) or emit returns an error (return it, wrapped or not).
// The batch passed to emit is only borrowed: Run copies what it keeps, so the
// source may reuse the slice once emit returns. emit blocks while the
// publisher paces or waits for the broker (back-pressure).
type Source interface {
	Stream(ctx context.Context, start time.Time, emit func([]reading.Reading) error) error
}

// Clock is the time source Run paces against. Tests inject a fake one so
// that they never sleep.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or until ctx is done, whichever is first; it
	// returns ctx.Err() in the latter case.
	Sleep(ctx context.Context, d time.Duration) error
}

// Defaults of the Options fields whose zero value means "default".
const (
	DefaultMaxReadingsPerMessage = 1000
	DefaultMaxInFlight           = 64
	DefaultConnectTimeout        = 10 * time.Second
	DefaultMaxReconnectInterval  = 30 * time.Second
	DefaultKeepAlive             = 30 * time.Second
	DefaultWriteTimeout          = 30 * time.Second
	DefaultDrainTimeout          = 5 * time.Second
	// MaxInFlightLimit is the largest MaxInFlight: MQTT packet ids are
	// 16-bit.
	MaxInFlightLimit = 65535
)

// Options configure a Publisher. Only Broker is required; every other zero
// value means the default stated on its field.
type Options struct {
	// Broker is the broker URL: tcp://host:port (or mqtt://), ssl://,
	// tls:// or mqtts:// for TLS, ws:// or wss:// for websockets. A user
	// and password in the URL are used when Username is empty.
	Broker string
	// ClientID is the MQTT client id. Zero: "rigsim-" and 12 random hex
	// digits. Two clients with the same id kick each other off the broker.
	ClientID string
	// CleanSession asks the broker to drop the session on connect and
	// disconnect. Zero (false): the session persists, so QoS 1 and 2
	// messages in flight across a reconnect are completed.
	CleanSession bool
	// Username and Password authenticate to the broker (zero: none, or
	// the URL's user info). The password is never logged.
	Username string
	Password string
	// TLS configures TLS for ssl://, tls://, mqtts:// and wss:// brokers
	// (nil: the system roots and the broker's host name).
	TLS *tls.Config

	// Speed is the pacing factor: 1 publishes in real time, N compresses
	// simulated time N-fold, 0 publishes as fast as the broker
	// acknowledges. Must not be negative.
	Speed float64
	// FlushInterval is how much simulated time a topic's readings are
	// collected for before they are published as one message. Zero: each
	// source batch is flushed when it has been handled.
	FlushInterval time.Duration
	// MaxReadingsPerMessage caps the readings in one message (zero:
	// DefaultMaxReadingsPerMessage; at most codec.MaxReadings). Codecs that
	// carry one reading per payload always send one. A payload that would
	// exceed codec.MaxPayload (which subscribers reject) is split, and the
	// topic's cap halved for good.
	MaxReadingsPerMessage int
	// MaxInFlight is the most messages published but not yet acknowledged
	// (QoS 1, 2) or written (QoS 0); when it is reached, Run waits (zero:
	// DefaultMaxInFlight; at most MaxInFlightLimit).
	MaxInFlight int

	// ConnectTimeout bounds the first connection and each reconnection
	// attempt (zero: DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// MaxReconnectInterval caps the exponential backoff between
	// reconnection attempts after the connection is lost (zero:
	// DefaultMaxReconnectInterval).
	MaxReconnectInterval time.Duration
	// KeepAlive is the MQTT keep-alive interval (zero: DefaultKeepAlive).
	KeepAlive time.Duration
	// WriteTimeout bounds the hand-over of one message to the connection
	// (zero: DefaultWriteTimeout); a message that misses it counts as an
	// error.
	WriteTimeout time.Duration
	// DrainTimeout bounds, once the source ended or ctx was cancelled, the
	// publishing of collected readings and the wait for outstanding
	// acknowledgements (zero: DefaultDrainTimeout). Messages still
	// unacknowledged then are counted in Stats.Unconfirmed.
	DrainTimeout time.Duration

	// Clock paces publishing (nil: the system clock).
	Clock Clock
	// Logger receives the package's logs (nil: slog.Default()).
	Logger *slog.Logger
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrOptions is returned (wrapped) by New for invalid Options.
	ErrOptions = errors.New("invalid publish options")
	// ErrBinding is returned (wrapped) by New for a sensor whose MQTT
	// binding cannot be published: no topic, an unknown or plugin codec,
	// a bad QoS, or a topic shared with different codecs or QoS.
	ErrBinding = errors.New("invalid sensor MQTT binding")
	// ErrConnect is returned (wrapped, with the broker URL and the cause)
	// when the broker cannot be reached or refuses the connection.
	ErrConnect = errors.New("cannot connect to the MQTT broker")
	// ErrUnknownSensor is returned (wrapped) by Run when the source emits
	// a reading of a sensor the firmware config does not have.
	ErrUnknownSensor = errors.New("reading of a sensor not in the firmware config")
	// ErrEncode is returned (wrapped) by Run when a codec cannot encode a
	// reading (for example a NaN value).
	ErrEncode = errors.New("cannot encode readings")
	// ErrRunning is returned by Run while another Run is going.
	ErrRunning = errors.New("publish: Run already in progress")
	// ErrClosed is returned by Connect and Run after Close.
	ErrClosed = errors.New("publish: publisher closed")
)

// route is one topic: its codec, QoS and the readings collected for it.
type route struct {
	topic  string
	codec  codec.Codec
	qos    byte
	max    int               // readings per message
	sensor []string          // sensors bound to the topic, config order
	buf    []reading.Reading // collected, not yet published (owned by Run)
	first  time.Time         // time of buf[0]
	// spSeq is the Sparkplug B sequence counter of the topic's edge node
	// (shared by the node's topics); nil for other codecs.
	spSeq *uint64
}

// sensorState is the publisher's view of one sensor.
type sensorState struct {
	route *route
	seq   uint64 // last sequence number published
}

// Publisher publishes readings to an MQTT broker according to a firmware
// config. Create it with New; it is not usable as a zero value.
type Publisher struct {
	opts    Options
	rigType string
	log     *slog.Logger
	clock   Clock
	routes  []*route
	sensors map[string]*sensorState
	dial    func(ctx context.Context, o *mqtt.ClientOptions, wg *sync.WaitGroup) (conn, error)

	running atomic.Bool
	stats   counters
	wg      sync.WaitGroup // goroutines started by Connect and Run

	mu     sync.Mutex // guards conn, store and closed
	conn   conn
	store  *ackStore // nil for a conn that is not paho
	closed bool
}

// New validates opts and the MQTT binding of every sensor of cfg and
// returns a Publisher. It does not connect. cfg is only read, during New.
func New(cfg *rig.Config, opts Options) (*Publisher, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil firmware config", ErrOptions)
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	p := &Publisher{
		opts:    opts,
		rigType: cfg.RigType,
		log:     opts.Logger.With("component", "publish"),
		clock:   opts.Clock,
		sensors: make(map[string]*sensorState, len(cfg.Sensors)),
		dial:    dialPaho,
	}
	if err := p.buildRoutes(cfg); err != nil {
		return nil, err
	}
	return p, nil
}

// validate checks the options that have no default.
func (o *Options) validate() error {
	if o.Broker == "" {
		return fmt.Errorf("%w: broker URL is required (e.g. tcp://127.0.0.1:1883)", ErrOptions)
	}
	u, err := url.Parse(o.Broker)
	if err != nil {
		return fmt.Errorf("%w: broker URL %q: %v", ErrOptions, o.Broker, err)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("%w: broker URL %q: scheme %q is not one of tcp, mqtt, ssl, tls, mqtts, ws, wss",
			ErrOptions, u.Redacted(), u.Scheme)
	}
	if u.Hostname() == "" {
		return fmt.Errorf("%w: broker URL %q has no host (e.g. tcp://127.0.0.1:1883)", ErrOptions, u.Redacted())
	}
	if u.Port() == "" && u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("%w: broker URL %q has no port (e.g. %s://%s:1883)", ErrOptions, u.Redacted(), u.Scheme, u.Hostname())
	}
	switch {
	case math.IsNaN(o.Speed) || math.IsInf(o.Speed, 0) || o.Speed < 0:
		return fmt.Errorf("%w: speed %v must be 0 (as fast as possible) or positive (1: real time)", ErrOptions, o.Speed)
	case o.FlushInterval < 0:
		return fmt.Errorf("%w: flush interval %s must not be negative", ErrOptions, o.FlushInterval)
	case o.MaxReadingsPerMessage < 0 || o.MaxReadingsPerMessage > codec.MaxReadings:
		return fmt.Errorf("%w: max readings per message %d must be in 1..%d (0: %d)",
			ErrOptions, o.MaxReadingsPerMessage, codec.MaxReadings, DefaultMaxReadingsPerMessage)
	case o.MaxInFlight < 0 || o.MaxInFlight > MaxInFlightLimit:
		return fmt.Errorf("%w: max in flight %d must be in 1..%d (0: %d)",
			ErrOptions, o.MaxInFlight, MaxInFlightLimit, DefaultMaxInFlight)
	}
	for name, d := range map[string]time.Duration{
		"connect timeout": o.ConnectTimeout, "max reconnect interval": o.MaxReconnectInterval,
		"keep alive": o.KeepAlive, "write timeout": o.WriteTimeout, "drain timeout": o.DrainTimeout,
	} {
		if d < 0 {
			return fmt.Errorf("%w: %s %s must not be negative", ErrOptions, name, d)
		}
	}
	if len(o.ClientID) > 65535 {
		return fmt.Errorf("%w: client id of %d bytes is too long", ErrOptions, len(o.ClientID))
	}
	return nil
}

// setDefaults fills zero fields.
func (o *Options) setDefaults() {
	o.ConnectTimeout = cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
	o.MaxReconnectInterval = cmp.Or(o.MaxReconnectInterval, DefaultMaxReconnectInterval)
	o.KeepAlive = cmp.Or(o.KeepAlive, DefaultKeepAlive)
	o.WriteTimeout = cmp.Or(o.WriteTimeout, DefaultWriteTimeout)
	o.DrainTimeout = cmp.Or(o.DrainTimeout, DefaultDrainTimeout)
	o.MaxReadingsPerMessage = cmp.Or(o.MaxReadingsPerMessage, DefaultMaxReadingsPerMessage)
	o.MaxInFlight = cmp.Or(o.MaxInFlight, DefaultMaxInFlight)
	if o.ClientID == "" {
		o.ClientID = "rigsim-" + randomHex(6)
	}
	if o.Username == "" {
		if u, err := url.Parse(o.Broker); err == nil && u.User != nil {
			o.Username = u.User.Username()
			o.Password, _ = u.User.Password()
		}
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// buildRoutes groups the sensors of cfg by topic.
func (p *Publisher) buildRoutes(cfg *rig.Config) error {
	byTopic := map[string]*route{}
	spSeq := map[string]*uint64{}
	var errs []error
	for i, s := range cfg.Sensors {
		b := s.MQTT
		where := fmt.Sprintf("sensor %q (sensors[%d])", s.ID, i)
		if s.ID == "" {
			errs = append(errs, fmt.Errorf("%w: sensors[%d] has no id", ErrBinding, i))
			continue
		}
		if _, dup := p.sensors[s.ID]; dup {
			errs = append(errs, fmt.Errorf("%w: %s: duplicate sensor id", ErrBinding, where))
			continue
		}
		if b.Topic == "" {
			errs = append(errs, fmt.Errorf("%w: %s has no mqtt.topic; give every sensor a topic in the firmware config", ErrBinding, where))
			continue
		}
		if strings.ContainsAny(b.Topic, "+#\x00") {
			errs = append(errs, fmt.Errorf("%w: %s: mqtt.topic %q contains a wildcard or NUL", ErrBinding, where, b.Topic))
			continue
		}
		qos := b.QoSOrDefault()
		if qos < 0 || qos > 2 {
			errs = append(errs, fmt.Errorf("%w: %s: mqtt.qos %d must be 0, 1 or 2", ErrBinding, where, qos))
			continue
		}
		r := byTopic[b.Topic]
		if r == nil {
			c, err := codec.Lookup(b.Codec)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s on topic %q: %w", ErrBinding, where, b.Topic, err))
				continue
			}
			r = &route{topic: b.Topic, codec: c, qos: byte(qos), max: p.opts.MaxReadingsPerMessage}
			if perPayload(c) == 1 {
				r.max = 1
			}
			if c.Name() == codec.NameSparkplugB {
				node := SparkplugNode(b.Topic)
				if spSeq[node] == nil {
					spSeq[node] = new(uint64)
				}
				r.spSeq = spSeq[node]
			}
			byTopic[b.Topic] = r
			p.routes = append(p.routes, r)
		} else {
			if b.Codec != r.codec.Name() {
				errs = append(errs, fmt.Errorf("%w: %s: codec %q differs from %q of sensor %q on topic %q (one topic, one codec)",
					ErrBinding, where, b.Codec, r.codec.Name(), r.sensor[0], b.Topic))
				continue
			}
			if byte(qos) != r.qos {
				errs = append(errs, fmt.Errorf("%w: %s: qos %d differs from %d of sensor %q on topic %q (one topic, one QoS)",
					ErrBinding, where, qos, r.qos, r.sensor[0], b.Topic))
				continue
			}
		}
		r.sensor = append(r.sensor, s.ID)
		p.sensors[s.ID] = &sensorState{route: r}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if len(p.routes) == 0 {
		return fmt.Errorf("%w: rig %q has no sensors to publish", ErrBinding, cfg.RigType)
	}
	return nil
}

// SparkplugNode returns the edge node a Sparkplug B topic
// (spBv1.0/GROUP/TYPE/NODE[/DEVICE]) belongs to, as "GROUP/NODE", or the
// topic itself when it does not follow that layout.
func SparkplugNode(topic string) string {
	parts := strings.Split(topic, "/")
	if len(parts) >= 4 && parts[0] == "spBv1.0" {
		return parts[1] + "/" + parts[3]
	}
	return topic
}

// perPayload returns how many readings one payload of c may carry: 1 for
// single-reading codecs, else codec.MaxReadings. A codec may say so itself
// with a MaxReadingsPerPayload method.
func perPayload(c codec.Codec) int {
	if m, ok := c.(interface{ MaxReadingsPerPayload() int }); ok {
		if n := m.MaxReadingsPerPayload(); n > 0 {
			return n
		}
	}
	if c.Name() == codec.NameJSON {
		return 1
	}
	return codec.MaxReadings
}

// Topics returns the topics the publisher sends to, each with its sensors,
// in firmware-config order. The returned map is the caller's.
func (p *Publisher) Topics() map[string][]string {
	m := make(map[string][]string, len(p.routes))
	for _, r := range p.routes {
		m[r.topic] = slices.Clone(r.sensor)
	}
	return m
}

// Connect connects to the broker if not connected yet. Run calls it; call
// it first to fail early. A connection failure is returned as an error
// wrapping ErrConnect that names the broker URL. If ctx is done before the
// connection attempt ends, Connect returns ctx.Err() and the attempt is
// abandoned in the background (Close waits for it).
func (p *Publisher) Connect(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if p.conn != nil {
		return nil
	}
	broker := redact(p.opts.Broker)
	p.log.Info("connecting to broker", "broker", broker, "client_id", p.opts.ClientID,
		"clean_session", p.opts.CleanSession, "topics", len(p.routes))
	store := newAckStore()
	c, err := p.dial(ctx, p.mqttOptions(store), &p.wg)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			return fmt.Errorf("connect to MQTT broker %s: %w", broker, err)
		}
		return fmt.Errorf("%w %s: %w (check the URL, credentials and that the broker is running)", ErrConnect, broker, err)
	}
	p.conn = c
	if _, ok := c.(mqtt.Client); ok {
		p.store = store
	}
	p.log.Info("connected to broker", "broker", broker)
	return nil
}

// Close disconnects from the broker, letting paho finish work for up to
// 250 ms, and waits for every goroutine the Publisher started. Call it
// after Run returned. It is idempotent and always returns nil.
func (p *Publisher) Close() error {
	p.mu.Lock()
	c := p.conn
	p.conn, p.store = nil, nil
	already := p.closed
	p.closed = true
	p.mu.Unlock()
	if c != nil {
		c.Disconnect(250)
	}
	p.wg.Wait()
	if !already {
		p.log.Debug("publisher closed")
	}
	return nil
}

// Stats returns the counters of the current (or last) Run. It is safe to
// call from any goroutine.
func (p *Publisher) Stats() Stats { return p.stats.snapshot(p.clock) }

// redact hides the password of a broker URL.
func redact(broker string) string {
	u, err := url.Parse(broker)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
