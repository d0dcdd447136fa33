package httpapi

import (
	"container/list"
	"sync"

	"golang.org/x/time/rate"
)

// limiters holds one token bucket per credential, at most max of them:
// when full, the least recently used is dropped (it starts full again if
// its credential comes back, which errs on the side of the caller).
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	max   int
	ll    *list.List // of *limiterEntry, most recent first
	byKey map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newLimiters(r float64, burst, max int) *limiters {
	return &limiters{rate: rate.Limit(r), burst: burst, max: max, ll: list.New(), byKey: map[string]*list.Element{}}
}

// allow takes one token of key's bucket.
func (l *limiters) allow(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[key]; ok {
		l.ll.MoveToFront(e)
		return e.Value.(*limiterEntry).lim.Allow()
	}
	if l.ll.Len() >= l.max {
		old := l.ll.Back()
		l.ll.Remove(old)
		delete(l.byKey, old.Value.(*limiterEntry).key)
	}
	ent := &limiterEntry{key: key, lim: rate.NewLimiter(l.rate, l.burst)}
	l.byKey[key] = l.ll.PushFront(ent)
	return ent.lim.Allow()
}

// spent reports whether key's bucket has no token left now, taking none
// (a key without a bucket has a full one).
func (l *limiters) spent(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.byKey[key]
	return ok && e.Value.(*limiterEntry).lim.Tokens() < 1
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ll.Len()
}
