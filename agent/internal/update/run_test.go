package update

import (
	"context"
	"errors"
	"testing"
	"time"
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

func FuzzCompareVersions(f *testing.F) {
	for _, s := range []string{"1.0.0", "v1.2.3", "1.0.0-rc.1", "1.0.0-alpha.beta+x", "0.0.0-1.a"} {
		f.Add(s, "1.0.0")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ok1 := compareVersions(a, b)
		ba, ok2 := compareVersions(b, a)
		if ok1 != ok2 || ab != -ba {
			t.Errorf("compare(%q, %q) = %d, %v; reversed %d, %v", a, b, ab, ok1, ba, ok2)
		}
		if aa, ok := compareVersions(a, a); ok && aa != 0 {
			t.Errorf("compare(%q, itself) = %d", a, aa)
		}
	})
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
