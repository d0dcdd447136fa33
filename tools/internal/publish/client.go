package publish

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// conn is what Run needs of an MQTT client (paho's mqtt.Client has it).
// Tests replace it to inject failures.
type conn interface {
	// Publish sends one message; the token completes when the broker
	// acknowledged it (QoS 1, 2) or it was written (QoS 0).
	Publish(topic string, qos byte, retained bool, payload any) mqtt.Token
	// Disconnect ends the connection after up to quiesce ms of work.
	Disconnect(quiesce uint)
}

// mqttOptions builds paho's options from the publisher's, with store as
// the client's session store.
func (p *Publisher) mqttOptions(store *ackStore) *mqtt.ClientOptions {
	o := p.opts
	var reconnecting atomic.Bool
	mo := mqtt.NewClientOptions().
		SetStore(store).
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetCleanSession(o.CleanSession).
		SetProtocolVersion(4).
		SetConnectTimeout(o.ConnectTimeout).
		SetConnectRetry(false). // the first failure is reported, not retried
		SetAutoReconnect(true).
		SetMaxReconnectInterval(o.MaxReconnectInterval).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(min(o.KeepAlive, 10*time.Second)).
		SetWriteTimeout(o.WriteTimeout).
		SetOrderMatters(false). // the publisher receives nothing
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			reconnecting.Store(true)
			p.stats.connLost.Add(1)
			p.log.Warn("broker connection lost", "broker", redact(o.Broker), "err", err)
		}).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			p.log.Info("reconnecting to broker", "broker", redact(o.Broker))
		}).
		SetOnConnectHandler(func(mqtt.Client) {
			if reconnecting.Swap(false) {
				p.log.Info("reconnected to broker", "broker", redact(o.Broker))
			}
		})
	if o.Username != "" {
		mo.SetUsername(o.Username)
		mo.SetPassword(o.Password)
	}
	if o.TLS != nil {
		mo.SetTLSConfig(o.TLS)
	}
	return mo
}

// dialPaho creates a paho client and connects it. If ctx is done first,
// it returns ctx.Err() and a goroutine (counted in wg) disconnects the
// client once the attempt ends (at most ConnectTimeout later).
func dialPaho(ctx context.Context, o *mqtt.ClientOptions, wg *sync.WaitGroup) (conn, error) {
	c := mqtt.NewClient(o)
	tok := c.Connect()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		wg.Go(func() {
			<-tok.Done()
			c.Disconnect(0)
		})
		return nil, ctx.Err()
	}
}

// ackStore is paho's memory store, watched for acknowledgements.
//
// paho's publish tokens cannot be trusted across a reconnect: a message
// whose write failed gets an error although it stays in the session store
// and is resent after the reconnect, and the tokens of unacknowledged
// messages are completed without error when the resend starts, before the
// broker acknowledged anything. The store tells the truth: the client puts
// an outbound QoS 1 or 2 PUBLISH under "o.<packet id>" and deletes it only
// when the broker acknowledged it (PUBACK, or PUBCOMP after PUBREC), and it
// frees the packet id only after that deletion.
type ackStore struct {
	mqtt.Store
	mu      sync.Mutex
	pending map[string]*ack // outbound PUBLISH not yet acknowledged
}

// ack is the fate of one stored message: done is closed when it is known;
// ok then says whether the broker acknowledged it (false: the message was
// dropped from the session, e.g. by a clean-session connect).
type ack struct {
	done chan struct{}
	ok   bool
}

var acked = func() *ack {
	a := &ack{done: make(chan struct{}), ok: true}
	close(a.done)
	return a
}()

func newAckStore() *ackStore {
	return &ackStore{Store: mqtt.NewMemoryStore(), pending: map[string]*ack{}}
}

// Put implements mqtt.Store. It stores a copy of an outbound PUBLISH: on
// reconnect paho sets the DUP flag of the stored packet while the packet
// it was given may still be written by the connection's writer, a data
// race in paho (eclipse-paho/paho.mqtt.golang#703) that the copy avoids.
func (s *ackStore) Put(key string, m packets.ControlPacket) {
	if pp, ok := m.(*packets.PublishPacket); ok && strings.HasPrefix(key, "o.") {
		cp := *pp // shares the payload, which nobody writes
		m = &cp
		s.mu.Lock()
		if old := s.pending[key]; old != nil { // id reused without an ack
			close(old.done)
		}
		s.pending[key] = &ack{done: make(chan struct{})}
		s.mu.Unlock()
	}
	s.Store.Put(key, m)
}

// Del implements mqtt.Store.
func (s *ackStore) Del(key string) {
	s.Store.Del(key)
	s.mu.Lock()
	if a := s.pending[key]; a != nil {
		a.ok = true
		close(a.done)
		delete(s.pending, key)
	}
	s.mu.Unlock()
}

// Reset implements mqtt.Store.
func (s *ackStore) Reset() {
	s.Store.Reset()
	s.mu.Lock()
	for k, a := range s.pending {
		close(a.done)
		delete(s.pending, k)
	}
	s.mu.Unlock()
}

// watch returns the fate of the message stored under packet id. Call it
// after Publish returned and before the next Publish: then the id is the
// message's own (the client frees an id only after its deletion, and only
// Publish takes new ones). A message no longer stored was acknowledged.
func (s *ackStore) watch(id uint16) *ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.pending["o."+strconv.Itoa(int(id))]; a != nil {
		return a
	}
	return acked
}

// systemClock is the wall clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand panics instead)
	return hex.EncodeToString(b)
}
