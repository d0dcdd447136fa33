package diskspace

import "testing"

func TestFree(t *testing.T) {
	n, err := Free(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("Free(temp dir) = %d, %v; want some bytes", n, err)
	}
	if _, err := Free("/nonexistent/dir/x"); err == nil {
		t.Error("Free of a missing folder: no error")
	}
}
