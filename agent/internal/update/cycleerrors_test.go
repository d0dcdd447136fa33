package update

import (
	"maps"
	"net/http"
	"os"
	"slices"
	"testing"
)

// TestCycleErrorsCounted: the cycles that ended with an error are counted
// by reason (Status.CycleErrors, exported on /metrics): a fleet's
// monitoring saw a failing update only as a state gauge that the next
// cycle overwrote, and a refused refresh or a cut download not at all.
func TestCycleErrorsCounted(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	a := f.open(func(o *Options) { o.MaxAttempts = 5 })
	step := func(what string) {
		t.Helper()
		if err := a.Cycle(t.Context()); err == nil {
			t.Fatalf("%s: no error", what)
		}
	}
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	step("repository down")
	f.mu.Lock()
	f.down = false
	f.intercept = func(w http.ResponseWriter, _ *http.Request, _ string) bool {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return true
	}
	f.mu.Unlock()
	step("archive 503")
	f.mu.Lock()
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, _ := os.ReadFile(file)
		b[len(b)/2] ^= 1 // tampered
		w.Write(b)
		return true
	}
	f.mu.Unlock()
	step("tampered archive")
	want := map[string]uint64{"metadata": 1, "download": 1, "verify": 1}
	if got := a.Status().CycleErrors; !maps.Equal(got, want) {
		t.Errorf("cycle errors %v, want %v", got, want)
	}
	for _, r := range []string{"metadata", "download", "verify"} {
		if !slices.Contains(CycleErrorReasons, r) {
			t.Errorf("%q is not in CycleErrorReasons", r)
		}
	}
}
