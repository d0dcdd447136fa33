package publish

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/agent/internal/mqttwait"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// Defaults of Options.
const (
	DefaultQueue          = 256
	DefaultPublishTimeout = 10 * time.Second
	DefaultConnectTimeout = 10 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultMaxAttempts    = 3
	minBackoff            = 100 * time.Millisecond
	maxBackoff            = 10 * time.Second
)

// Options configure a Publisher. Broker, ClientID and Topic are required.
type Options struct {
	// Broker is the broker URL (as the ingest's).
	Broker string
	// ClientID is the MQTT client id (clean session).
	ClientID string
	// Username, Password and TLS authenticate as the ingest does.
	Username, Password string
	TLS                *tls.Config
	// Topic is where diagnoses go; no wildcards.
	Topic string
	// Queue caps the diagnoses waiting to be published (0: DefaultQueue).
	Queue int
	// PublishTimeout bounds the wait for one acknowledgement (0:
	// DefaultPublishTimeout); MaxAttempts caps the tries of one diagnosis
	// (0: DefaultMaxAttempts).
	PublishTimeout time.Duration
	MaxAttempts    int
	// ConnectTimeout and KeepAlive as for the ingest (0: defaults).
	ConnectTimeout, KeepAlive time.Duration
	// Logger (nil: slog.Default()).
	Logger *slog.Logger
	// Heartbeat is beaten by Run at least every liveness.Interval while
	// it waits for diagnoses or to retry, and at each publish attempt
	// (each bounded by PublishTimeout) (nil: none).
	Heartbeat *liveness.Beater
}

// Stats is a snapshot of the publisher.
type Stats struct {
	// Connected says whether the client is connected now.
	Connected bool
	// Published counts acknowledged publishes; Failed diagnoses given up
	// after MaxAttempts; Dropped diagnoses pushed out of a full queue;
	// Bytes the payload bytes published.
	Published, Failed, Dropped, Bytes uint64
	// Queued is the queue's length now.
	Queued int
}

// Publisher publishes diagnoses on one topic. Safe for concurrent use.
type Publisher struct {
	opts   Options
	log    *slog.Logger
	client mqtt.Client

	mu     sync.Mutex
	queue  []diag.Diagnosis
	wake   chan struct{}
	closed bool
	st     Stats
}

// New checks opts and returns a Publisher; it connects in Run.
func New(opts Options) (*Publisher, error) {
	switch {
	case opts.Broker == "":
		return nil, errors.New("publish: no broker URL")
	case opts.ClientID == "":
		return nil, errors.New("publish: no client id")
	case opts.Topic == "" || strings.ContainsAny(opts.Topic, "+#\x00"):
		return nil, fmt.Errorf("publish: topic %q: want a topic without wildcards", opts.Topic)
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = DefaultPublishTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = DefaultKeepAlive
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	p := &Publisher{opts: opts, log: opts.Logger, wake: make(chan struct{}, 1)}
	mo := mqtt.NewClientOptions().AddBroker(opts.Broker).SetClientID(opts.ClientID).
		SetCleanSession(true).SetProtocolVersion(4).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).SetMaxReconnectInterval(maxBackoff).
		SetConnectTimeout(opts.ConnectTimeout).SetKeepAlive(opts.KeepAlive).
		SetWriteTimeout(opts.PublishTimeout).SetOrderMatters(false).
		SetOnConnectHandler(func(mqtt.Client) {
			p.log.Info("diagnosis publisher connected", "broker", opts.Broker, "topic", opts.Topic)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.log.Warn("diagnosis publisher lost its connection; reconnecting", "err", err)
		})
	if opts.Username != "" {
		mo.SetUsername(opts.Username)
		mo.SetPassword(opts.Password)
	}
	if opts.TLS != nil {
		mo.SetTLSConfig(opts.TLS)
	}
	p.client = mqtt.NewClient(mo)
	return p, nil
}

// Enqueue queues d for publishing. It never blocks: when the queue is
// full the oldest queued diagnosis is dropped and counted. After Run
// ended it returns an error.
func (p *Publisher) Enqueue(_ context.Context, d diag.Diagnosis) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("publish: publisher stopped")
	}
	if len(p.queue) >= p.opts.Queue {
		p.queue = p.queue[1:]
		p.st.Dropped++
	}
	p.queue = append(p.queue, d)
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// Stats returns a snapshot.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Queued = len(p.queue)
	st.Connected = p.client.IsConnectionOpen()
	return st
}

// Run connects (retrying in the background) and publishes queued
// diagnoses until ctx is done; then it disconnects and returns nil.
// Diagnoses still queued then are left unpublished (they are in the
// history).
func (p *Publisher) Run(ctx context.Context) error {
	p.client.Connect() // with ConnectRetry, keeps trying in the background
	defer func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.client.Disconnect(250)
	}()
	backoff := minBackoff
	beat := p.opts.Heartbeat
	tick := time.NewTicker(liveness.Interval)
	defer tick.Stop()
	for {
		beat.Beat()
		p.mu.Lock()
		var d diag.Diagnosis
		have := len(p.queue) > 0
		if have {
			d = p.queue[0]
		}
		p.mu.Unlock()
		if !have {
			select {
			case <-ctx.Done():
				return nil
			case <-p.wake:
				continue
			case <-tick.C:
				continue // idle: beat
			}
		}
		if err := p.publish(ctx, d); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !liveness.Sleep(ctx, backoff, beat) {
				return nil
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		backoff = minBackoff
	}
}

// publish sends d, the head of the queue, and removes it when it was
// acknowledged or gave up; it returns an error to retry later.
func (p *Publisher) publish(ctx context.Context, d diag.Diagnosis) error {
	payload, err := json.Marshal(&d)
	if err != nil {
		p.pop(d.Seq, false, 0)
		p.log.Error("diagnosis not encodable; not published", "seq", d.Seq, "err", err)
		return nil
	}
	var last error
	for range p.opts.MaxAttempts {
		p.opts.Heartbeat.Beat()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !p.client.IsConnectionOpen() {
			last = errors.New("not connected")
			if !sleepCtx(ctx, time.Second) {
				return ctx.Err()
			}
			continue
		}
		tok := p.client.Publish(p.opts.Topic, 1, false, payload)
		if err := mqttwait.Token(ctx, tok, p.opts.PublishTimeout); err != nil {
			if ctx.Err() != nil {
				return ctx.Err() // stopping: d stays queued
			}
			last = err
			continue
		}
		p.pop(d.Seq, true, len(payload))
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Given up for now: keep it if the broker is simply away (it will be
	// back), drop it when the broker answered with an error.
	if !p.client.IsConnectionOpen() {
		return last
	}
	p.pop(d.Seq, false, 0)
	p.log.Warn("diagnosis not published", "seq", d.Seq, "topic", p.opts.Topic, "err", last)
	return nil
}

// pop removes the queue's head if it is still seq (a full queue may have
// dropped it meanwhile).
func (p *Publisher) pop(seq uint64, ok bool, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) > 0 && p.queue[0].Seq == seq {
		p.queue = p.queue[1:]
	}
	if ok {
		p.st.Published++
		p.st.Bytes += uint64(n)
	} else {
		p.st.Failed++
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
