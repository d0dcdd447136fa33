package diskspace

import (
	"syscall"
	"testing"
)

func TestFree(t *testing.T) {
	n, err := Free(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("Free(temp dir) = %d, %v; want some bytes", n, err)
	}
	if _, err := Free("/nonexistent/dir/x"); err == nil {
		t.Error("Free of a missing folder: no error")
	}
}

// TestStat compares Stat with the standard library's statfs: the same
// size, and the same free bytes give or take what other processes wrote
// between the two calls.
func TestStat(t *testing.T) {
	dir := t.TempDir()
	u, err := Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	bs := uint64(st.Bsize) //nolint:unconvert // field types differ per OS
	if want := uint64(st.Blocks) * bs; u.Size != want || want == 0 {
		t.Errorf("Stat(%s).Size = %d, statfs says %d", dir, u.Size, want)
	}
	free := uint64(st.Bavail) * bs
	if d := max(u.Free, free) - min(u.Free, free); d > 64<<20 || u.Free > u.Size {
		t.Errorf("Stat(%s).Free = %d, statfs says %d (size %d)", dir, u.Free, free, u.Size)
	}
	if _, err := Stat("/nonexistent/dir/x"); err == nil {
		t.Error("Stat of a missing folder: no error")
	}
}
