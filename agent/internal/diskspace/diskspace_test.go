package diskspace

import (
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

// TestStat: some room on a real directory's file system, no more free
// than its size, and an error naming a missing folder. The exact figures
// are checked against statfs and df on Linux (TestStatAsDf).
func TestStat(t *testing.T) {
	dir := t.TempDir()
	u, err := Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size == 0 || u.Free == 0 || u.Free > u.Size {
		t.Errorf("Stat(%s) = %+v; want some free bytes, no more than the size", dir, u)
	}
	if _, err := Stat("/nonexistent/dir/x"); err == nil {
		t.Error("Stat of a missing folder: no error")
	}
}
