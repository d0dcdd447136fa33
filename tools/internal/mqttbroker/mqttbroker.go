package mqttbroker

import (
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/hydrognn/hydrognn/shared/mqttlisten"
)

// Options configure Start. The zero value is a broker on a free loopback
// port that lets every client in.
type Options struct {
	// Addr is the listen address (default "127.0.0.1:0", a free port).
	Addr string
	// TLS, if set, makes the listener serve TLS (URL scheme "ssl").
	TLS *tls.Config
	// Users, if not empty, are the only username/password pairs let in;
	// empty lets every client in.
	Users map[string]string
	// Hooks are added after the authentication hook, in order.
	Hooks []mochi.Hook
	// Logger receives mochi-mqtt's log (default: discarded).
	Logger *slog.Logger
}

// Broker is a running broker. Close stops it.
type Broker struct {
	srv    *mochi.Server
	tcp    *mqttlisten.Listener
	scheme string
	once   sync.Once
}

// Start starts a broker and returns once it accepts connections.
func Start(o Options) (*Broker, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := mochi.New(&mochi.Options{Logger: logger})
	if len(o.Users) > 0 {
		var rules auth.AuthRules
		for u, p := range o.Users {
			rules = append(rules, auth.AuthRule{Username: auth.RString(u), Password: auth.RString(p), Allow: true})
		}
		if err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{Auth: rules}}); err != nil {
			return nil, fmt.Errorf("mqtt broker: add auth hook: %w", err)
		}
	} else if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("mqtt broker: add allow hook: %w", err)
	}
	for _, h := range o.Hooks {
		if err := srv.AddHook(h, nil); err != nil {
			return nil, fmt.Errorf("mqtt broker: add hook %q: %w", h.ID(), err)
		}
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	b := &Broker{srv: srv, scheme: "tcp"}
	if o.TLS != nil {
		b.scheme = "ssl"
	}
	b.tcp = mqttlisten.New(mqttlisten.Config{Address: addr, TLS: o.TLS})
	// AddListener initialises (binds) the listener: Address is the bound
	// port from here on.
	if err := srv.AddListener(b.tcp); err != nil {
		return nil, fmt.Errorf("mqtt broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("mqtt broker: serve: %w", err)
	}
	return b, nil
}

// Addr is the listener's address (host:port).
func (b *Broker) Addr() string { return b.tcp.Address() }

// URL is the broker's URL for paho.mqtt.golang: tcp://host:port, or
// ssl://host:port with TLS.
func (b *Broker) URL() string { return b.scheme + "://" + b.Addr() }

// Server is the mochi-mqtt server, for tests that inspect its clients.
func (b *Broker) Server() *mochi.Server { return b.srv }

// Close stops the listener, disconnects every client and stops the
// hooks. It is idempotent.
func (b *Broker) Close() error {
	var err error
	b.once.Do(func() { err = b.srv.Close() })
	if err != nil {
		return fmt.Errorf("mqtt broker: close: %w", err)
	}
	return nil
}
