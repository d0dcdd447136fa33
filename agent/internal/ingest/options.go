package ingest

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Store is where the ingest puts readings. The agent's durable buffer
// (agent/internal/buffer) is one.
type Store interface {
	// Append stores rs durably and returns nil only once they are
	// committed (fsynced): the ingest then acknowledges the MQTT messages
	// they came in. An error means nothing of rs is stored; the messages
	// are then not acknowledged and the broker delivers them again.
	//
	// rs is borrowed for the call: Append must not keep it or its
	// elements' backing array after it returns. Append is called from
	// one goroutine at a time per Ingest; it should return promptly when
	// ctx is done.
	Append(ctx context.Context, rs []reading.Reading) error
}

// Resumer is an optional interface of a Store. When the store implements
// it, Run asks it once, before connecting, for the newest reading it holds
// of each sensor, so that messages the broker delivers again after a
// restart of the agent (stored, but their acknowledgement lost with the
// process) are recognised as duplicates instead of being stored twice.
type Resumer interface {
	// Latest returns each sensor's mark (in any order; sensors without
	// readings left out): Time the newest reading time stored, Seq the
	// publisher's seq of the last reading stored that had one, in arrival
	// order (as the duplicate check holds them in memory). Only Sensor,
	// Time and Seq are used.
	Latest(ctx context.Context) ([]reading.Reading, error)
}

// Decoder decodes one payload, as codec.Codec.Decode does: it appends the
// readings of payload to dst and returns the extended slice, or dst with
// its original length and an error. Every shared/codec Codec is one, and
// so is a plugin.Codec. An error that wraps plugin.ErrFailed means the
// decoder could not answer (the payload may be fine); any other error
// means the payload is bad.
type Decoder interface {
	Decode(b codec.Binding, payload []byte, dst []reading.Reading) ([]reading.Reading, error)
}

// Defaults of the Options fields whose zero value means "default".
const (
	DefaultConnectTimeout    = 10 * time.Second
	DefaultKeepAlive         = 30 * time.Second
	DefaultPingTimeout       = 10 * time.Second
	DefaultMinBackoff        = 100 * time.Millisecond
	DefaultMaxBackoff        = 10 * time.Second
	DefaultMaxInFlight       = 2048
	DefaultMaxInFlightBytes  = 64 << 20
	DefaultMaxBatch          = 8192
	DefaultRangeTolerance    = rig.DefaultRangeTolerance
	DefaultMaxFutureSkew     = time.Minute
	DefaultMaxUnsyncedSkew   = 24 * time.Hour
	DefaultMaxDecodeFailures = 3
	DefaultDrainTimeout      = 5 * time.Second
	DefaultMaxPluginWait     = 5 * time.Second
	DefaultHeldRetry         = 10 * time.Second
	DefaultMaxHeldPerTopic   = 64
	DefaultMaxHeld           = 256
	DefaultLogInterval       = 10 * time.Second
	DefaultRecentRejections  = 100
)

// Options configure an Ingest. Only Broker is required; every other zero
// value means the default stated on its field.
type Options struct {
	// Broker is the broker URL: tcp://host:port (or mqtt://), ssl://,
	// tls:// or mqtts:// for TLS, ws:// or wss:// for websockets. A user
	// and password in the URL are used when Username is empty; they are
	// never logged.
	Broker string
	// ClientID is the MQTT client id. It must be stable across restarts:
	// the broker keeps the persistent session (subscriptions and the
	// messages not yet acknowledged) under it. Zero: "rig-agent-" and the
	// firmware config's equipment id (or rig type). Two agents with one
	// id kick each other off the broker.
	ClientID string
	// Username and Password authenticate to the broker (zero: none, or
	// the URL's user info).
	Username string
	Password string
	// TLS configures TLS for ssl://, tls://, mqtts:// and wss:// brokers:
	// the CA to trust, and Certificates for client-certificate
	// authentication (nil: the system roots). See TLSConfig.
	TLS *tls.Config

	// ConnectTimeout bounds each connection attempt (zero:
	// DefaultConnectTimeout).
	ConnectTimeout time.Duration
	// KeepAlive is the MQTT keep-alive interval (zero: DefaultKeepAlive);
	// PingTimeout how long a ping may wait for its answer (zero:
	// DefaultPingTimeout). While the store blocks the ingest for longer
	// than both together, the connection may drop; it is then re-made
	// and what was not acknowledged is delivered again.
	KeepAlive   time.Duration
	PingTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting after
	// a lost connection, a failed connection attempt, a failed Append or
	// a failed plugin: it starts at MinBackoff, doubles, and resets once a
	// session has stored something (zero: DefaultMinBackoff,
	// DefaultMaxBackoff).
	MinBackoff time.Duration
	MaxBackoff time.Duration

	// MaxInFlight is the most messages received but not yet acknowledged,
	// and MaxInFlightBytes the most memory they hold: each message counts
	// its payload plus its decoded readings (the capacity of its slice
	// times the size of a reading.Reading, 64 bytes on 64-bit platforms: a
	// binary frame decodes to about 4.4 times its size) (zero:
	// DefaultMaxInFlight, DefaultMaxInFlightBytes; a message larger than
	// MaxInFlightBytes is let through alone). When either is reached the
	// ingest stops reading from the broker until the store catches up:
	// the broker queues, and TCP pushes back.
	MaxInFlight      int
	MaxInFlightBytes int
	// MaxBatch is the most readings given to one Append (zero:
	// DefaultMaxBatch). Messages waiting while an Append runs go into the
	// next one, up to this many readings; a larger message goes alone.
	MaxBatch int

	// RangeTolerance widens each sensor's measuring range (rig.Range, after
	// scale and offset) by this fraction of its span at both ends before
	// a reading counts as out of range (zero: DefaultRangeTolerance;
	// negative: no range check).
	RangeTolerance float64
	// MaxFutureSkew is how far in the future (by the agent's clock) a
	// reading's time may be (zero: DefaultMaxFutureSkew). It applies
	// only while ClockSynced reports true: with a clock not synchronised
	// (booted before NTP, no RTC), the agent's clock is the likelier to be
	// wrong, and such readings are stored and counted
	// (Stats.FutureUnsynced) instead of rejected as ReasonFuture.
	MaxFutureSkew time.Duration
	// MaxUnsyncedSkew is how far ahead a reading's time may be while
	// ClockSynced reports false (zero: DefaultMaxUnsyncedSkew): beyond it
	// the reading is rejected as ReasonFuture all the same (a unit mix-up,
	// a gateway glitch). A reading ahead by less is stored, but it does
	// not move its sensor's duplicate mark: it is checked for duplicates
	// only against the readings of its own message, so that one reading
	// far ahead cannot have every later reading without seq rejected as a
	// duplicate until that time.
	MaxUnsyncedSkew time.Duration
	// ClockSynced reports whether the agent's clock is synchronised; it
	// is asked only for a reading past MaxFutureSkew or MaxAge (nil: on Linux the
	// kernel's adjtimex(2) status, STA_UNSYNC clear; elsewhere, or when
	// the kernel cannot tell, true).
	ClockSynced func() bool
	// MaxAge, if positive, rejects readings older than this (zero: no
	// limit), by the agent's clock. Like MaxFutureSkew it applies only
	// while ClockSynced reports true: with a clock not synchronised (a bad
	// RTC running ahead before NTP steps it back), such readings are
	// stored and counted (Stats.OldUnsynced) instead of rejected as
	// ReasonTooOld. A time before 1678 is rejected whatever the clock.
	MaxAge time.Duration
	// MaxDecodeFailures is how many times a decoder may fail (plugin
	// crash or timeout) on the same payload before the message is
	// rejected as "plugin_failed" and acknowledged, instead of being left
	// for redelivery (zero: DefaultMaxDecodeFailures).
	MaxDecodeFailures int
	// MaxPluginWait bounds how long one message may hold the (serial)
	// handler waiting for a codec plugin that is unavailable (it cannot
	// start, or its restart is pending: plugin.ErrUnavailable), on top of
	// a start in progress (zero: DefaultMaxPluginWait). Past it the
	// message's topic is held for the rest of the session: the message and
	// every later one on its topic are left unacknowledged (not decoded),
	// while the other topics flow. HeldRetry after the first hold the
	// session ends (what was queued is stored and acknowledged first) and
	// the next one gets the held messages again from the broker, in their
	// order (zero: DefaultHeldRetry).
	MaxPluginWait time.Duration
	HeldRetry     time.Duration
	// MaxHeldPerTopic bounds the messages of one topic held unacknowledged
	// in a session for an unavailable plugin (zero:
	// DefaultMaxHeldPerTopic). The broker delivers the held messages again
	// at each session, so this bounds the topic's unacknowledged backlog
	// across sessions: kept well below the broker's in-flight window for
	// the agent (the embedded broker slows every publisher past its
	// HighWater and drops new messages for the agent past MaxInflight),
	// one broken plugin cannot stall or lose the other topics. A message
	// past it is rejected as ReasonPluginUnavailable and acknowledged, as
	// the plugin's own topic's loss, counted; a short outage loses nothing.
	MaxHeldPerTopic int
	// MaxHeld bounds likewise the messages held in a session over all the
	// topics (zero: DefaultMaxHeld), so that several broken plugins
	// together cannot fill the broker's window either: past it, a held
	// topic's message is rejected as ReasonPluginUnavailable too.
	MaxHeld int
	// DrainTimeout bounds, when Run's ctx is done, the wait for messages
	// already received to be stored and acknowledged (zero:
	// DefaultDrainTimeout). What is not done by then is left
	// unacknowledged, for the broker to deliver again.
	DrainTimeout time.Duration

	// Plugins resolves "plugin:NAME" codecs (name is the whole codec
	// string). Nil: a firmware config with a plugin codec is refused by
	// New.
	Plugins func(name string) (Decoder, error)

	// LogInterval is the least time between two log lines for one
	// rejection reason; the lines in between are counted and the count is
	// logged with the next one (zero: DefaultLogInterval).
	LogInterval time.Duration
	// RecentRejections is how many of the latest rejections Rejections
	// returns (zero: DefaultRecentRejections; negative: none kept).
	RecentRejections int
	// Now is the clock (nil: time.Now). It gives the arrival time of
	// messages and bounds future timestamps.
	Now func() time.Time
	// Logger receives the package's logs (nil: slog.Default()).
	Logger *slog.Logger
	// Heartbeat is beaten by Run at least every liveness.Interval while
	// the ingest is healthy: by the appender (the group commit into the
	// Store) between batches and while it waits for messages, by Run
	// while it waits to reconnect, and on its behalf while a connection
	// attempt and its subscription run (bounded by ConnectTimeout). An
	// Append that does not return stops the beats (nil: none); the agent
	// also beats it from a buffer compaction's progress, during which
	// appends wait (buffer.Options.OnProgress).
	Heartbeat *liveness.Beater
}

// Sentinel errors, matched with errors.Is.
var (
	// ErrOptions is returned (wrapped) by New for invalid Options.
	ErrOptions = errors.New("invalid ingest options")
	// ErrConfig is returned (wrapped) by New for a firmware config the
	// ingest cannot serve: no active sensor with a topic, an unknown
	// codec, a plugin codec without Options.Plugins, or a topic bound to
	// different codecs.
	ErrConfig = errors.New("firmware config cannot be ingested")
	// ErrRunning is returned by Run while another Run is going.
	ErrRunning = errors.New("ingest: Run already in progress")
)

func (o *Options) validate() error {
	if o.Broker == "" {
		return fmt.Errorf("%w: no broker URL", ErrOptions)
	}
	u, err := url.Parse(o.Broker)
	if err != nil {
		return fmt.Errorf("%w: broker URL %q: %v", ErrOptions, redact(o.Broker), redactErr(err, o.Broker))
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return fmt.Errorf("%w: broker URL %q: scheme %q is not tcp, mqtt, ssl, tls, mqtts, ws or wss", ErrOptions, redact(o.Broker), u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("%w: broker URL %q has no host", ErrOptions, redact(o.Broker))
	}
	if len(o.ClientID) > 65535 {
		return fmt.Errorf("%w: client id of %d bytes", ErrOptions, len(o.ClientID))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"ConnectTimeout", o.ConnectTimeout}, {"KeepAlive", o.KeepAlive}, {"PingTimeout", o.PingTimeout},
		{"MinBackoff", o.MinBackoff}, {"MaxBackoff", o.MaxBackoff}, {"MaxFutureSkew", o.MaxFutureSkew}, {"MaxUnsyncedSkew", o.MaxUnsyncedSkew},
		{"MaxAge", o.MaxAge}, {"DrainTimeout", o.DrainTimeout}, {"LogInterval", o.LogInterval},
		{"MaxPluginWait", o.MaxPluginWait}, {"HeldRetry", o.HeldRetry}} {
		if d.v < 0 {
			return fmt.Errorf("%w: %s must not be negative: %s", ErrOptions, d.name, d.v)
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"MaxInFlight", o.MaxInFlight}, {"MaxInFlightBytes", o.MaxInFlightBytes}, {"MaxBatch", o.MaxBatch},
		{"MaxDecodeFailures", o.MaxDecodeFailures}, {"MaxHeldPerTopic", o.MaxHeldPerTopic},
		{"MaxHeld", o.MaxHeld}} {
		if n.v < 0 {
			return fmt.Errorf("%w: %s must not be negative: %d", ErrOptions, n.name, n.v)
		}
	}
	if o.KeepAlive > 0 && o.KeepAlive < time.Second {
		return fmt.Errorf("%w: KeepAlive %s is under the MQTT resolution of 1s", ErrOptions, o.KeepAlive)
	}
	if math.IsNaN(o.RangeTolerance) {
		return fmt.Errorf("%w: RangeTolerance is NaN", ErrOptions)
	}
	return nil
}

func (o *Options) setDefaults(rigID string) {
	if o.ClientID == "" {
		o.ClientID = "rig-agent-" + rigID
	}
	o.ConnectTimeout = cmp.Or(o.ConnectTimeout, DefaultConnectTimeout)
	o.KeepAlive = cmp.Or(o.KeepAlive, DefaultKeepAlive)
	o.PingTimeout = cmp.Or(o.PingTimeout, DefaultPingTimeout)
	o.MinBackoff = cmp.Or(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = cmp.Or(o.MaxBackoff, DefaultMaxBackoff)
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	o.MaxFutureSkew = cmp.Or(o.MaxFutureSkew, DefaultMaxFutureSkew)
	o.MaxUnsyncedSkew = cmp.Or(o.MaxUnsyncedSkew, DefaultMaxUnsyncedSkew)
	o.DrainTimeout = cmp.Or(o.DrainTimeout, DefaultDrainTimeout)
	o.MaxPluginWait = cmp.Or(o.MaxPluginWait, DefaultMaxPluginWait)
	o.HeldRetry = cmp.Or(o.HeldRetry, DefaultHeldRetry)
	o.LogInterval = cmp.Or(o.LogInterval, DefaultLogInterval)
	o.MaxInFlight = cmp.Or(o.MaxInFlight, DefaultMaxInFlight)
	o.MaxInFlightBytes = cmp.Or(o.MaxInFlightBytes, DefaultMaxInFlightBytes)
	o.MaxBatch = cmp.Or(o.MaxBatch, DefaultMaxBatch)
	o.MaxDecodeFailures = cmp.Or(o.MaxDecodeFailures, DefaultMaxDecodeFailures)
	o.MaxHeldPerTopic = cmp.Or(o.MaxHeldPerTopic, DefaultMaxHeldPerTopic)
	o.MaxHeld = cmp.Or(o.MaxHeld, DefaultMaxHeld)
	o.RecentRejections = cmp.Or(o.RecentRejections, DefaultRecentRejections)
	o.RangeTolerance = cmp.Or(o.RangeTolerance, DefaultRangeTolerance)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClockSynced == nil {
		o.ClockSynced = kernelClockSynced
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// redact hides the password of a URL's user info.
func redact(broker string) string {
	u, err := url.Parse(broker)
	if err != nil || u.User == nil {
		if i := strings.Index(broker, "@"); i >= 0 {
			return "xxx" + broker[i:]
		}
		return broker
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// redactErr returns err's text without the URL (which may hold a
// password).
func redactErr(err error, broker string) string {
	return strings.ReplaceAll(err.Error(), broker, redact(broker))
}
