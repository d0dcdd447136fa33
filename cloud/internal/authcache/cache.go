package authcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// fetchTimeout bounds a fetch shared by concurrent lookups (Lookup).
const fetchTimeout = 10 * time.Second

// Defaults of Options.
const (
	DefaultTTL        = 5 * time.Second
	DefaultMaxEntries = 10_000
	DefaultHeartbeat  = 15 * time.Second
)

// Options configure a Cache; zero fields take the defaults noted.
type Options struct {
	// TTL is how long a principal is served after its lookup
	// (0: DefaultTTL). To run without a cache, use a nil *Cache.
	TTL time.Duration
	// MaxEntries caps the principals kept (0: DefaultMaxEntries); when
	// full, the least recently used is dropped.
	MaxEntries int
	// Heartbeat is how long Listen waits for a notification before it
	// checks its connection with a query (0: DefaultHeartbeat).
	Heartbeat time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Fetch looks up the principal of a credential in the database
// (store.Store.TokenPrincipal or AgentPrincipal).
type Fetch func(ctx context.Context, cred string) (*store.Principal, error)

// Flush reasons (the label of rig_cloud_auth_cache_flushes_total).
const (
	ReasonRevoke   = "revoke"   // this replica revoked a credential
	ReasonNotify   = "notify"   // a notification on store.RevokedChannel
	ReasonListener = "listener" // the listener connected or lost its connection
)

// Cache is a bounded, short-lived map from credential hashes to
// principals (see the package documentation). Make it with New. A nil
// *Cache is valid and caches nothing: Lookup calls fetch every time.
type Cache struct {
	opt Options

	mu    sync.Mutex
	ll    *list.List // of *entry, most recently used first
	byKey map[[sha256.Size]byte]*list.Element
	epoch uint64 // incremented by every flush
	live  bool   // the listener listens: entries may be served

	// inflight coalesces concurrent misses of one credential (many
	// clients of one token when its entry expires) into one fetch.
	inflight singleflight.Group

	hits, misses, evictions prometheus.Counter
	flushes                 *prometheus.CounterVec
	entries, listenerUp     prometheus.Gauge
}

type entry struct {
	key      [sha256.Size]byte
	p        *store.Principal // owned by the cache: copied out
	deadline time.Time        // served before this
}

// New returns an empty Cache that serves nothing until Listen listens.
func New(o Options) *Cache {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Cache{opt: o, ll: list.New(), byKey: map[[sha256.Size]byte]*list.Element{},
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_auth_cache_hits_total",
			Help: "Credential lookups answered by this replica's authentication cache."}),
		misses: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_auth_cache_misses_total",
			Help: "Credential lookups that went to the database (not cached, expired, or the cache's listener not listening)."}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_auth_cache_evictions_total",
			Help: "Principals dropped from the authentication cache because it was full (auth.cache_entries)."}),
		flushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_auth_cache_flushes_total",
			Help: "Whole flushes of the authentication cache: revoke (by this replica), notify (another replica's revocation), listener (connected or disconnected)."},
			[]string{"reason"}),
		entries: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rig_cloud_auth_cache_entries",
			Help: "Principals held by the authentication cache."}),
		listenerUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rig_cloud_auth_cache_listener_up",
			Help: "1 while the authentication cache's listener listens for revocations (the cache serves entries only then), else 0."}),
	}
	for _, r := range []string{ReasonRevoke, ReasonNotify, ReasonListener} {
		c.flushes.WithLabelValues(r)
	}
	return c
}

// TTL returns how long a principal is served after its lookup (0 for a
// nil Cache).
func (c *Cache) TTL() time.Duration {
	if c == nil {
		return 0
	}
	return c.opt.TTL
}

// Lookup returns cred's principal: a copy of the cached one when a live
// entry holds it, else fetch's, which is then kept (a copy) unless fetch
// failed, the cache was flushed while fetch ran, or the listener is not
// listening. fetch's errors are returned as they are.
func (c *Cache) Lookup(ctx context.Context, cred string, fetch Fetch) (*store.Principal, error) {
	if c == nil {
		return fetch(ctx, cred)
	}
	key := sha256.Sum256([]byte(cred))
	now := c.opt.Now()
	c.mu.Lock()
	if e, ok := c.byKey[key]; ok {
		ent := e.Value.(*entry)
		if c.live && now.Before(ent.deadline) {
			c.ll.MoveToFront(e)
			p := clone(ent.p)
			c.mu.Unlock()
			c.hits.Inc()
			return p, nil
		}
		c.remove(e)
	}
	epoch := c.epoch
	c.mu.Unlock()
	c.misses.Inc()

	// Concurrent misses of this credential share one fetch, under a
	// context that no single caller's cancellation ends (bounded by
	// fetchTimeout); each caller gets its own copy. The flight is keyed by
	// the epoch too, so a lookup that starts after a flush never joins a
	// fetch that began before it.
	v, err, _ := c.inflight.Do(fmt.Sprintf("%x/%d", key, epoch), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		at := c.opt.Now()
		p, err := fetch(fctx, cred)
		return fetched{p, at}, err
	})
	if err != nil {
		return nil, err
	}
	f := v.(fetched)
	p := clone(f.p)
	// The TTL counts from when the shared fetch began, not from when
	// this caller did: one that joined it late must not keep the answer
	// longer than the first.
	deadline := f.at.Add(c.opt.TTL)
	if !p.Expires.IsZero() && p.Expires.Before(deadline) {
		deadline = p.Expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.epoch != epoch || !now.Before(deadline) {
		return p, nil
	}
	if e, ok := c.byKey[key]; ok { // another request fetched it meanwhile
		c.remove(e)
	}
	for c.ll.Len() >= c.opt.MaxEntries {
		c.remove(c.ll.Back())
		c.evictions.Inc()
	}
	c.byKey[key] = c.ll.PushFront(&entry{key: key, p: clone(p), deadline: deadline})
	c.entries.Set(float64(c.ll.Len()))
	return p, nil
}

// fetched is a shared fetch's principal and the time it began.
type fetched struct {
	p  *store.Principal
	at time.Time
}

// remove drops e; c.mu is held.
func (c *Cache) remove(e *list.Element) {
	c.ll.Remove(e)
	delete(c.byKey, e.Value.(*entry).key)
	c.entries.Set(float64(c.ll.Len()))
}

// Flush drops every entry, and any lookup's result still in flight, at
// once. store.Store.OnRevoke calls it after a revocation (reason
// ReasonRevoke). Safe on a nil Cache.
func (c *Cache) Flush() {
	if c == nil {
		return
	}
	c.flush(ReasonRevoke, nil)
}

// flush drops every entry and, when live is not nil, sets whether
// entries may be served.
func (c *Cache) flush(reason string, live *bool) {
	c.mu.Lock()
	c.ll.Init()
	clear(c.byKey)
	c.epoch++
	if live != nil {
		c.live = *live
	}
	// The gauges under the lock, so that they follow the state in order.
	c.entries.Set(0)
	if c.live {
		c.listenerUp.Set(1)
	} else {
		c.listenerUp.Set(0)
	}
	c.mu.Unlock()
	c.flushes.WithLabelValues(reason).Inc()
}

// Listening reports whether the listener listens, so that entries are
// served (false for a nil Cache).
func (c *Cache) Listening() bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.live
}

// Len returns the number of entries held.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

// Describe implements prometheus.Collector.
func (c *Cache) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.collectors() {
		m.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Cache) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.collectors() {
		m.Collect(ch)
	}
}

func (c *Cache) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.hits, c.misses, c.evictions, c.flushes, c.entries, c.listenerUp}
}

// clone copies p and its agent identity.
func clone(p *store.Principal) *store.Principal {
	cp := *p
	if p.Agent != nil {
		a := *p.Agent
		cp.Agent = &a
	}
	return &cp
}
