package liveness

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often a healthy loop beats at least, idle or busy. The
// stall limit (agent.stall_after) must stay well above it. A variable for
// tests (set before the loops start).
var Interval = 2 * time.Second

// DefaultStallAfter is the default stall limit (agent.stall_after).
const DefaultStallAfter = 2 * time.Minute

// MaxLoops caps the loops of a registry: the agent registers one per
// loop it runs (a handful).
const MaxLoops = 32

// Registry holds the loops' heartbeats.
type Registry struct {
	limit time.Duration
	now   func() time.Time

	mu    sync.Mutex
	loops []*Beater // in registration order
}

// New returns a registry whose loops are stalled after limit without a
// beat (limit > 0). now is the clock (nil: time.Now).
func New(limit time.Duration, now func() time.Time) (*Registry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("liveness: stall limit %s is not positive", limit)
	}
	if now == nil {
		now = time.Now
	}
	return &Registry{limit: limit, now: now}, nil
}

// Limit is the stall limit.
func (r *Registry) Limit() time.Duration { return r.limit }

// Register adds the loop name, watched from now on (as if it had just
// beaten). Registering a name twice returns the same Beater.
func (r *Registry) Register(name string) (*Beater, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.loops {
		if b.name == name {
			b.Beat()
			return b, nil
		}
	}
	if len(r.loops) >= MaxLoops {
		return nil, fmt.Errorf("liveness: register loop %q: already %d loops (MaxLoops)", name, MaxLoops)
	}
	b := &Beater{r: r, name: name}
	b.Beat()
	r.loops = append(r.loops, b)
	return b, nil
}

// Beater is the heartbeat of one loop. Its methods are safe for
// concurrent use; a nil *Beater does nothing.
type Beater struct {
	r      *Registry
	name   string
	last   atomic.Int64 // the registry clock's UnixNano of the last beat
	active atomic.Bool  // false after Done, until the next Beat
}

// Beat records that the loop is alive now (and watched again after Done).
func (b *Beater) Beat() {
	if b == nil {
		return
	}
	b.last.Store(b.r.now().UnixNano())
	b.active.Store(true)
}

// Done ends the watch of a loop that has returned (a stop, or a model
// swap between two windowing runners): a loop that is not running is
// not hung. The next Beat watches it again.
func (b *Beater) Done() {
	if b == nil {
		return
	}
	b.active.Store(false)
}

// Cover beats on the loop's behalf every Interval until the returned
// function is called: for a step that is bounded by its own timeouts (a
// model update's download with its progress timeout, an HTTP request)
// and may legitimately take longer than the stall limit.
func (b *Beater) Cover() (end func()) {
	if b == nil {
		return func() {}
	}
	b.Beat()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				b.Beat()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		b.Beat()
	}
}

// Loop is the state of one loop.
type Loop struct {
	Name string `json:"loop"`
	// LastBeat is the time of its last beat.
	LastBeat time.Time `json:"last_beat"`
	// Stalled: watched and without a beat for more than the limit.
	Stalled bool `json:"-"`
	// Active: watched (running); false after Done.
	Active bool `json:"-"`
}

// Loops returns the loops in registration order.
func (r *Registry) Loops() []Loop {
	r.mu.Lock()
	loops := slices.Clone(r.loops)
	r.mu.Unlock()
	now := r.now()
	out := make([]Loop, 0, len(loops))
	for _, b := range loops {
		last := time.Unix(0, b.last.Load())
		active := b.active.Load()
		out = append(out, Loop{Name: b.name, LastBeat: last, Active: active, Stalled: active && now.Sub(last) > r.limit})
	}
	return out
}

// Stalled returns the stalled loops (none: nil).
func (r *Registry) Stalled() []Loop {
	var out []Loop
	for _, l := range r.Loops() {
		if l.Stalled {
			out = append(out, l)
		}
	}
	return out
}
