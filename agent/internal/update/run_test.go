package update

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runManager runs a.Run until the returned stop is called, which checks
// that Run returned nil.
func runManager(t *testing.T, a *agent) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestRun(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(func(o *Options) { o.Watch = Watch{MinRuns: 4} })
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	// The first cycle runs at once.
	waitFor(t, "the commit", func() bool { return a.Status().State == Committed })
	// The watchdog wakes Run, which rolls back without waiting for the
	// next check.
	for range 4 {
		a.Observe(time.Millisecond, errors.New("boom"))
	}
	waitFor(t, "the rollback", func() bool { return a.Current() == f.factory })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestRunRetriesOffer: an offered release that a cycle could not start
// because the repository was down is tried again within seconds (Run's
// RetryMin backoff), not at the next check an hour later: the offer
// does not change to wake Run when the cloud is back.
func TestRunRetriesOffer(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p110 := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	offers.set(&cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 2})
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	a := f.open(func(o *Options) { o.Offers = offers; o.CheckInterval = time.Hour; o.RetryMin = 100 * time.Millisecond })
	defer runManager(t, a)()
	waitFor(t, "a check refused by the repository", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.requests) > 0
	})
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
	waitFor(t, "1.1.0 committed after the repository is back", func() bool {
		st := a.Status()
		return st.State == Committed && st.Installed.Version == "1.1.0"
	})
	if st := a.Status(); len(st.Attempts) != 0 {
		t.Errorf("the outage counted attempts: %v", st.Attempts)
	}
}

func FuzzRangeStart(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 1000-65547/65548", "bytes */100", "", "bytes -5-1/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := rangeStart(s); ok && n < 0 {
			t.Errorf("rangeStart(%q) = %d, a negative offset", s, n)
		}
	})
}

// racyOffers is a fakeOffers whose next answer arrives just after the
// first read that follows a metadata request: the check-in answer landing
// while a cycle runs, after its check read the offer.
type racyOffers struct {
	fakeOffers
	f     *fixture
	next  *cloudapi.Offer
	fired bool
}

func (r *racyOffers) Offer() (*cloudapi.Offer, bool, <-chan struct{}) {
	o, known, ch := r.fakeOffers.Offer()
	r.f.mu.Lock()
	asked := len(r.f.requests) > 0
	r.f.mu.Unlock()
	r.fakeOffers.mu.Lock()
	fire := asked && !r.fired
	r.fired = r.fired || fire
	r.fakeOffers.mu.Unlock()
	if fire {
		r.set(r.next)
	}
	return o, known, ch
}

// TestRunWakesOnOfferDuringCycle: an offer that changes while a cycle
// runs (after its check read the old one) starts the next cycle at once,
// not at the next check an hour later.
func TestRunWakesOnOfferDuringCycle(t *testing.T) {
	f := newFixture(t, "1.0.0")
	p110 := f.release("1.1.0", nil, nil)
	offers := &racyOffers{f: f, next: &cloudapi.Offer{Target: p110, Version: "1.1.0", Rollout: 3}}
	a := f.open(func(o *Options) { o.Offers = offers; o.CheckInterval = time.Hour })
	defer runManager(t, a)()
	waitFor(t, "1.1.0, offered while the first cycle ran, committed", func() bool {
		st := a.Status()
		return st.State == Committed && st.Installed.Version == "1.1.0"
	})
}
