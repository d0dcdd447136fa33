package httpapi

import (
	"context"
	"sync"
)

// unknownLookups is how many lookups of credentials unknown to this API
// (checkCredential) one client address (failLimiter's keys: the
// IPv6 /48 when it has one, else the address key) runs at once. It bounds
// the overshoot of the failed-authentication buckets: a failure is
// counted once its lookup ends, so without a cap any number of bad
// credentials sent together could all be looked up while the bucket
// still showed a token. Others wait for a slot; valid lookups take
// milliseconds, so a NAT's whole fleet enrolling at once still gets in.
const unknownLookups = 8

// lookupSlots caps the lookups in flight per key. Keys are held only while
// a request holds or waits for a slot; at most max keys at once (past
// that, acquire refuses: as many distinct addresses looking up at once as
// the limiters hold buckets is an attack or an overload either way).
type lookupSlots struct {
	mu    sync.Mutex
	per   int
	max   int
	slots map[string]*slotSet
}

type slotSet struct {
	ch    chan struct{} // a token per slot in use
	users int           // requests holding or waiting for a slot
}

func newLookupSlots(per, max int) *lookupSlots {
	return &lookupSlots{per: per, max: max, slots: map[string]*slotSet{}}
}

// acquire waits for one of key's slots until ctx ends. It returns the
// function that gives the slot back, or nil when ctx ended first or too
// many keys are in use.
func (l *lookupSlots) acquire(ctx context.Context, key string) func() {
	l.mu.Lock()
	s := l.slots[key]
	if s == nil {
		if len(l.slots) >= l.max {
			l.mu.Unlock()
			return nil
		}
		s = &slotSet{ch: make(chan struct{}, l.per)}
		l.slots[key] = s
	}
	s.users++
	l.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
		return func() {
			<-s.ch
			l.leave(key, s)
		}
	case <-ctx.Done():
		l.leave(key, s)
		return nil
	}
}

func (l *lookupSlots) leave(key string, s *slotSet) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(l.slots, key)
	}
}

// inUse is the number of keys held (for tests).
func (l *lookupSlots) inUse() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.slots)
}
