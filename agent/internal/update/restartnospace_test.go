package update

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// mountTiny mounts a tmpfs of size at dir (created) for the test (root
// only; skipped where mounting is not allowed).
func mountTiny(t *testing.T, dir, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

// TestNoSpaceAfterRestartedDownloadKeepsNoZeros: a resumed download is
// answered 200 (the server ignores Range), so the part file is cut to 0
// and the download starts over; the disk fills before it is back at the
// old length. The bytes written are given back, but the part file must
// not be "given back" to its old length: that pads it with zeros, the
// next resume appends to them, and the release fails its hash check
// (ErrVerify: an attempt counted for a full disk).
func TestNoSpaceAfterRestartedDownloadKeepsNoZeros(t *testing.T) {
	f := newFixture(t, "1.0.0")
	mountTiny(t, f.dir, "4m")
	f.release("1.1.0", nil, nil)
	filler := filepath.Join(f.dir, "filler")
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, _ := os.ReadFile(file)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2]) // cut
		return true
	}
	a := f.open(func(o *Options) { o.FreeSpace = func(string) (int64, error) { return 1 << 40, nil } })
	_ = a.Cycle(t.Context())
	part := a.partPath(a.Status().Target.SHA256)
	fi, err := os.Stat(part)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 {
		t.Fatal("the cut download kept nothing")
	}
	var want []byte
	f.intercept = func(w http.ResponseWriter, _ *http.Request, file string) bool {
		b, _ := os.ReadFile(file)
		want = b
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusOK) // Range ignored
		w.(http.Flusher).Flush()
		// The agent cuts the part file to 0 on the 200; then the disk
		// fills up.
		for i := 0; i < 3000; i++ {
			if fi, err := os.Stat(part); err == nil && fi.Size() == 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		fill(t, filler, 0)
		_, _ = w.Write(b)
		return true
	}
	err = a.Cycle(t.Context())
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("cycle 2: %v, want the disk full", err)
	}
	got, err := os.ReadFile(part)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[:min(len(got), len(want))]) {
		t.Fatalf("the part file (%d bytes) is not a prefix of the archive (%d bytes): padded with zeros", len(got), len(want))
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	f.intercept = nil
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatalf("cycle 3 (room, Range honoured): %v", err)
	}
	if st := a.Status(); len(st.Attempts) != 0 {
		t.Errorf("state %s, attempts %v: a full disk counted an attempt", st.State, st.Attempts)
	}
}
