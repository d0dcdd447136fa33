package update

import (
	"fmt"
	"net/http"
	"os"
	"testing"
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
