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

// ModelOpenBound is the longest a model open, or a detector's batch
// model run with its session build, is beaten for on a loop's behalf
// (Cover): a TensorRT engine build takes minutes on a Jetson, and one
// that has not ended after this long is hung. The loop then counts as
// stalled agent.stall_after later.
const ModelOpenBound = 30 * time.Minute

// Registry holds the loops' heartbeats. It measures time since a beat on
// the monotonic clock: a step of the wall clock (NTP at boot) neither
// stalls a healthy loop nor hides a hung one.
type Registry struct {
	limit time.Duration
	now   func() time.Time
	// base is now() at New; a beat is stored as its offset from base,
	// measured with Time.Sub, which uses the monotonic readings of
	// time.Now's values.
	base time.Time

	mu    sync.Mutex
	loops []*Beater // in registration order
}

// New returns a registry whose loops are stalled after limit without a
// beat (limit > 0). now is the clock (nil: time.Now); time.Now's values
// carry a monotonic reading, by which elapsed time is measured (a test
// clock's without one are measured on their wall time).
func New(limit time.Duration, now func() time.Time) (*Registry, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("liveness: stall limit %s is not positive", limit)
	}
	if now == nil {
		now = time.Now
	}
	return &Registry{limit: limit, now: now, base: now()}, nil
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
	last   atomic.Int64 // the last beat, in nanoseconds since the registry's base
	active atomic.Bool  // false after Done, until the next Beat
}

// Beat records that the loop is alive now (and watched again after Done).
func (b *Beater) Beat() {
	if b == nil {
		return
	}
	b.last.Store(int64(b.r.since()))
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

// since is the time elapsed since the registry's base.
func (r *Registry) since() time.Duration { return r.now().Sub(r.base) }

// Cover beats on the loop's behalf every Interval until the returned
// function is called, for at most bound: for a step that is bounded by
// its own timeout (an HTTP request, a model update's download) or that
// may legitimately take longer than the stall limit up to a known bound
// (a model open: ModelOpenBound). A step still running after bound is
// no longer beaten for, so a hung one counts as stalled the stall limit
// later. The returned function beats once more and must be called.
func (b *Beater) Cover(bound time.Duration) (end func()) {
	if b == nil {
		return func() {}
	}
	b.Beat()
	start := b.r.since()
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
				if b.r.since()-start > bound {
					return // over its bound: hung
				}
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
	// LastBeat is the time of its last beat: the registry's start plus
	// the monotonic time elapsed to the beat (for display; stalls are
	// judged on the monotonic clock).
	LastBeat time.Time `json:"last_beat"`
	// Silent is the time since its last beat, on the monotonic clock.
	Silent time.Duration `json:"-"`
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
	now := r.since()
	out := make([]Loop, 0, len(loops))
	for _, b := range loops {
		last := time.Duration(b.last.Load())
		active := b.active.Load()
		out = append(out, Loop{Name: b.name, LastBeat: r.base.Add(last).Round(0), Silent: now - last, Active: active,
			Stalled: active && now-last > r.limit})
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

// Sleep waits d, beating b every Interval meanwhile and once at the end;
// false when ctx ended first. It is a loop's wait between attempts (a
// reconnect's backoff, a retry): a loop that waits is not hung.
func Sleep(ctx context.Context, d time.Duration, b *Beater) bool {
	return SleepParts(d, b, func(part time.Duration) bool {
		t := time.NewTimer(part)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	})
}

// SleepParts waits d as parts of at most Interval, each waited by wait,
// beating b before the first part, after each one and at the end; it
// stops early, returning false, when wait returns false (a context
// done, a wake). Sleep waits on a timer; a loop with a clock of its own
// (the forwarder's) passes its wait.
func SleepParts(d time.Duration, b *Beater, wait func(part time.Duration) bool) bool {
	for {
		b.Beat()
		part := min(d, Interval)
		if !wait(part) {
			b.Beat()
			return false
		}
		if d -= part; d <= 0 {
			b.Beat()
			return true
		}
	}
}
