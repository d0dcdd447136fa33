package httpapi

import (
	"container/list"
	"crypto/sha256"
	"net/netip"
	"sync"
	"time"
)

// limiters holds one token bucket per key (a credential, a client
// address), at most max of them: when full, the least recently used is
// dropped (it starts full again if its key comes back, which errs on the
// side of the caller). A bucket that has refilled completely is no
// different from a new one: such idle buckets at the least recently used
// end are dropped as new ones are made, so the map shrinks back when the
// keys that filled it go quiet.
//
// The buckets are its own rather than rate.Limiter's so that one may be
// looked at without taking a token (has).
type limiters struct {
	mu    sync.Mutex
	rate  float64 // tokens per second
	burst float64
	max   int
	now   func() time.Time
	ll    *list.List // of *bucket, most recent first
	byKey map[string]*list.Element
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time // tokens was computed at last
}

// idleSweep is how many buckets at the least recently used end making a
// bucket looks at for idle ones to drop: more than one, so that idle
// buckets drain while new keys come.
const idleSweep = 2

func newLimiters(r float64, burst, max int) *limiters {
	return &limiters{rate: r, burst: float64(burst), max: max, now: time.Now, ll: list.New(), byKey: map[string]*list.Element{}}
}

// refill adds the tokens earned since b.last; l.mu is held.
func (l *limiters) refill(b *bucket, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst, b.tokens+d.Seconds()*l.rate)
		b.last = now
	}
}

// bucket returns key's bucket, refilled to now, making a full one when
// it has none; l.mu is held.
func (l *limiters) bucket(key string, now time.Time) *bucket {
	if e, ok := l.byKey[key]; ok {
		l.ll.MoveToFront(e)
		b := e.Value.(*bucket)
		l.refill(b, now)
		return b
	}
	for range idleSweep {
		old := l.ll.Back()
		if old == nil {
			break
		}
		b := old.Value.(*bucket)
		if l.refill(b, now); b.tokens < l.burst && l.ll.Len() < l.max {
			break
		}
		l.ll.Remove(old)
		delete(l.byKey, b.key)
	}
	for l.ll.Len() >= l.max {
		old := l.ll.Back()
		l.ll.Remove(old)
		delete(l.byKey, old.Value.(*bucket).key)
	}
	b := &bucket{key: key, tokens: l.burst, last: now}
	l.byKey[key] = l.ll.PushFront(b)
	return b
}

// allow takes one token of key's bucket; false, taking none, when it has
// none.
func (l *limiters) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(key, l.now())
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// has reports whether key's bucket holds a token, taking none.
func (l *limiters) has(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bucket(key, l.now()).tokens >= 1
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}

// addrKey is the per-address limiters' key of a client address: an IPv4
// address itself (also written IPv4-mapped, ::ffff:a.b.c.d), an IPv6
// address's /64, the smallest block a host is usually given (keyed per
// address, one host would have 2^64 buckets). Anything else is kept as
// it is.
func addrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "ip:" + ip
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return "ip:" + a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return "ip:" + a.String()
	}
	return "ip:" + p.String()
}

// credSet remembers the SHA-256 of credentials that authenticated (never
// the credentials), at most max: when full, the least recently used is
// dropped. It only decides whether a credential may be looked up while
// its address's failure bucket is spent; the lookup itself decides
// whether it is valid.
type credSet struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // of [sha256.Size]byte, most recent first
	byKey map[[sha256.Size]byte]*list.Element
}

func newCredSet(max int) *credSet {
	return &credSet{max: max, ll: list.New(), byKey: map[[sha256.Size]byte]*list.Element{}}
}

func (s *credSet) has(cred string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byKey[sha256.Sum256([]byte(cred))]
	return ok
}

// add remembers cred as the most recently used.
func (s *credSet) add(cred string) {
	k := sha256.Sum256([]byte(cred))
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[k]; ok {
		s.ll.MoveToFront(e)
		return
	}
	for s.ll.Len() >= s.max {
		old := s.ll.Back()
		s.ll.Remove(old)
		delete(s.byKey, old.Value.([sha256.Size]byte))
	}
	s.byKey[k] = s.ll.PushFront(k)
}

func (s *credSet) remove(cred string) {
	k := sha256.Sum256([]byte(cred))
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byKey[k]; ok {
		s.ll.Remove(e)
		delete(s.byKey, k)
	}
}
