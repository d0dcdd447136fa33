package update

import (
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// cutFirst returns an intercept that drops the connection of the first n
// archive requests before answering a byte (rig-cloud killed mid-rollout),
// then lets the fixture serve the archive; cut reports how many it cut.
func cutFirst(t *testing.T, n int) (intercept func(http.ResponseWriter, *http.Request, string) bool, cut func() int) {
	var mu sync.Mutex
	done := 0
	intercept = func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		mu.Lock()
		defer mu.Unlock()
		if done >= n {
			return false
		}
		done++
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return false
		}
		conn.Close()
		return true
	}
	return intercept, func() int {
		mu.Lock()
		defer mu.Unlock()
		return done
	}
}

// TestRunRetriesCutDownloadSoon: rig-cloud restarting mid-rollout cuts
// the archive download before any byte arrives. That counted an attempt
// and Run then waited for the next regular check (update.check_interval,
// an hour by default; ~58 s in the rollout e2e) before trying again, the
// agent and its cohort stalled meanwhile. Run now retries after its
// short backoff (RetryMin doubling), the retries counting no further
// attempt, shows the backoff in Status while it lasts and resets it on
// success; with and without a cloud's offers.
func TestRunRetriesCutDownloadSoon(t *testing.T) {
	for _, withOffers := range []bool{true, false} {
		name := "offers"
		if !withOffers {
			name = "no_offers"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "1.0.0")
			path := f.release("1.1.0", nil, nil)
			icpt, cut := cutFirst(t, 3)
			f.mu.Lock()
			f.intercept = icpt
			f.mu.Unlock()
			a := f.open(func(o *Options) {
				o.CheckInterval, o.RetryMin, o.RetryMax, o.MaxAttempts = time.Hour, 100*time.Millisecond, 200*time.Millisecond, 3
				if withOffers {
					offers := &fakeOffers{}
					offers.set(&cloudapi.Offer{Target: path, Version: "1.1.0", Rollout: 5})
					o.Offers = offers
				}
			})
			sawRetry := false
			stop := runManager(t, a)
			defer stop()
			waitFor(t, "1.1.0 committed after the cut downloads (within seconds, not at the next check an hour later)", func() bool {
				st := a.Status()
				if st.Retries > 0 && !st.NextRetry.IsZero() {
					sawRetry = true
				}
				return st.State == Committed && st.Installed.Version == "1.1.0"
			})
			if n := cut(); n < 2 {
				t.Errorf("%d archive requests cut, want at least 2 (retried after a cut)", n)
			}
			// net/http may resend a GET whose connection closed before any
			// answer: fewer failed cycles than cut requests.
			if n := a.Status().CycleErrors["download"]; n < 1 {
				t.Errorf("%d download cycle errors, want at least 1", n)
			}
			if !sawRetry {
				t.Error("Status never showed a pending retry (Retries, NextRetry) while the downloads were cut")
			}
			waitFor(t, "the backoff reset after the commit", func() bool {
				st := a.Status()
				return st.Retries == 0 && st.NextRetry.IsZero()
			})
		})
	}
}

// TestRunCountsStalledDownloadOncePerCheck: the archive is refused (503)
// while the metadata is served. The first such download counts an
// attempt; the short retries that follow count none until check_interval
// has passed since, so an outage of minutes costs one attempt and never
// gives the release up, and a server that never delivers still uses up
// the attempts at one per check_interval, as before.
func TestRunCountsStalledDownloadOncePerCheck(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	}
	f.mu.Unlock()
	a := f.open(func(o *Options) {
		o.CheckInterval, o.RetryMin, o.RetryMax, o.MaxAttempts = time.Hour, 10*time.Millisecond, 50*time.Millisecond, 3
	})
	var once sync.Once
	stopRun := runManager(t, a)
	stop := func() { once.Do(stopRun) }
	defer stop()
	waitFor(t, "5 archive requests", func() bool { return len(f.archiveRequests()) >= 5 })
	if st := a.Status(); st.Attempts[path] != 1 || st.State == Failed {
		t.Fatalf("after %d refused downloads within the check interval: state %s, attempts %d (want 1)",
			len(f.archiveRequests()), st.State, st.Attempts[path])
	}
	stop()
	// A check interval later each refused download counts again.
	for want := 2; want <= 3; want++ {
		a.clock.Add(time.Hour)
		if err := a.Cycle(t.Context()); err == nil {
			t.Fatalf("cycle %d check intervals later: no error", want-1)
		}
		if n := a.Status().Attempts[path]; n != want && !(want == 3 && a.Status().State == Failed) {
			t.Fatalf("%d check intervals later: %d attempts", want-1, n)
		}
	}
	if st := a.Status(); st.State != Failed {
		t.Errorf("after 3 check intervals of refused downloads: state %s, want failed", st.State)
	}
}

// TestRunDoesNotRetryFailedVerificationSoon: an archive that fails
// verification (its bytes are not the signed ones) is a failed attempt,
// not a transient error: Run waits for the next check instead of fetching
// it again within seconds.
func TestRunDoesNotRetryFailedVerificationSoon(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("read archive: %v", err)
			return false
		}
		b[len(b)/2] ^= 0xff // same length, other bytes
		w.Write(b)
		return true
	}
	f.mu.Unlock()
	offers := &fakeOffers{}
	offers.set(&cloudapi.Offer{Target: path, Version: "1.1.0", Rollout: 6})
	a := f.open(func(o *Options) {
		o.Offers = offers
		o.CheckInterval, o.RetryMin, o.RetryMax, o.MaxAttempts = time.Hour, 10*time.Millisecond, 50*time.Millisecond, 3
	})
	defer runManager(t, a)()
	waitFor(t, "a failed verification", func() bool { return a.Status().CycleErrors["verify"] >= 1 })
	time.Sleep(300 * time.Millisecond) // ~10 retries' worth of RetryMin
	st := a.Status()
	if n := len(f.archiveRequests()); n != 1 || st.Attempts[path] != 1 || st.State != Failed {
		t.Errorf("300ms after a failed verification: %d archive requests, attempts %d, state %s (want 1, 1, failed: the next at the next check)",
			n, st.Attempts[path], st.State)
	}
	if st.Retries != 0 || !st.NextRetry.IsZero() {
		t.Errorf("a failed verification shows a pending retry: retries %d, next %s", st.Retries, st.NextRetry)
	}
}
