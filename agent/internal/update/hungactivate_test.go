package update

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
)

// hungActivator never returns from an activation (a model open hung in a
// TensorRT build or a lock) until the test ends.
type hungActivator struct {
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (a *hungActivator) Activate(ctx context.Context, _ string) error {
	a.once.Do(func() { close(a.entered) })
	select {
	case <-a.release:
	case <-ctx.Done():
	}
	return ctx.Err()
}

// The update loop is beaten for while it activates a model, but only up
// to a bound (liveness.ModelOpenBound): an activation hung for hours makes
// the loop stalled, where a cover of the whole cycle hid it for ever.
func TestHungActivationStallsUpdate(t *testing.T) {
	old := liveness.Interval
	liveness.Interval = 5 * time.Millisecond
	defer func() { liveness.Interval = old }()
	var mu sync.Mutex
	now := time.Unix(1e9, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	reg, err := liveness.New(time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	beat, err := reg.Register("update")
	if err != nil {
		t.Fatal(err)
	}

	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	act := &hungActivator{entered: make(chan struct{}), release: make(chan struct{})}
	a := f.open(func(o *Options) { o.Activator, o.Heartbeat = act, beat })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	defer func() { close(act.release); cancel(); <-done }()
	select {
	case <-act.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("no activation")
	}
	time.Sleep(20 * liveness.Interval)
	if st := reg.Stalled(); len(st) != 0 {
		t.Fatalf("stalled at once: %v", st)
	}
	advance(4 * time.Hour) // the activation has hung for hours
	time.Sleep(20 * liveness.Interval)
	advance(2 * time.Minute)
	time.Sleep(20 * liveness.Interval) // time for a cover to beat, were there one
	if st := reg.Stalled(); len(st) != 1 || st[0].Name != "update" {
		t.Fatalf("an activation hung for 4 h: stalled %v, want update", st)
	}
}
