package update

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestRestartedDownloadIsNoProgress: a server (or proxy) that ignores
// Range answers every resume with the whole file from byte 0, and the link
// drops at the same point every time. Each cycle rewrote the same first
// bytes and called that progress, so no attempt was ever counted and the
// release was downloaded again from the start, cycle after cycle, for
// ever. Only bytes beyond what the part file already held are progress.
func TestRestartedDownloadIsNoProgress(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK) // Range ignored
		w.Write(b[:1000])
		return true
	}
	a := f.open(func(o *Options) { o.MaxAttempts = 3 })
	if err := a.Cycle(t.Context()); err == nil || a.Status().Attempts[path] != 0 {
		t.Fatalf("first cut: %v, attempts %v (the first 1000 bytes are progress)", err, a.Status().Attempts)
	}
	for i := 1; i <= 3; i++ {
		// A download without progress counts once per check interval.
		a.clock.Add(time.Hour)
		if err := a.Cycle(t.Context()); err == nil {
			t.Fatalf("cycle %d: no error", i+1)
		}
		if n := a.Status().Attempts[path]; n != i && !(i == 3 && a.Status().State == Failed) {
			t.Fatalf("after cycle %d: %d attempts counted, state %s", i+1, n, a.Status().State)
		}
	}
	if st := a.Status(); st.State != Failed || st.Failed == nil || st.Failed.Path != path {
		t.Errorf("after %d cycles without new bytes: state %s, failed %+v, last error %q", 4, st.State, st.Failed, st.LastError)
	}
}

// TestCrashDuringVerifyingCounted: verifying reads the whole archive into
// memory and extracts up to 4 x max_bundle_bytes; an agent killed there
// (out of memory on a small rig) restarted into verifying, which Open kept
// uncounted, so the next cycle verified again and was killed again, at
// every start, for ever. A crash in verifying now counts one attempt, as a
// crash in the canary does: the archive is verified again from its part
// file, and the release is given up at max_attempts.
func TestCrashDuringVerifyingCounted(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, _ := os.ReadFile(file)
		w.Write(b[:len(b)-1])
		return true
	}
	a := f.open(nil)
	if err := a.Cycle(t.Context()); err == nil || a.Status().State != Downloading {
		t.Fatalf("cut download: %v, state %s", err, a.Status().State)
	}
	f.intercept = nil
	part := a.partPath(a.Status().Target.SHA256)
	for i := 1; i <= 3; i++ {
		crash(t, f, Verifying, nil)
		b := f.open(nil)
		st := b.Status()
		if i < 3 && (st.State != Verifying || st.Attempts[path] != i || st.Target == nil) {
			t.Fatalf("restart %d: state %s, attempts %v, target %v", i, st.State, st.Attempts, st.Target)
		}
		if i < 3 {
			if _, err := os.Stat(part); err != nil {
				t.Fatalf("restart %d: the part file is gone: %v", i, err)
			}
			continue
		}
		if st.State != Failed || st.Target != nil || st.Failed == nil || st.Failed.Path != path || b.Current() != f.factory {
			t.Fatalf("restart 3: %+v", st.Record)
		}
		if err := b.Cycle(t.Context()); err != nil || b.Status().State != Idle || b.Current() != f.factory {
			t.Fatalf("after giving up: %v, state %s, current %s", err, b.Status().State, b.Current())
		}
	}
}
