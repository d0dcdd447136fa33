package tarball

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSize: Size is the sum of the regular files Extract would write, and
// refuses what Extract refuses (beyond the limits here).
func TestSize(t *testing.T) {
	src := t.TempDir()
	for name, n := range map[string]int{"a": 1000, "sub/b": 2345, "sub/deeper/c": 0} {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	n, err := Size(bytes.NewReader(buf.Bytes()), Limits{})
	if err != nil || n != 3345 {
		t.Fatalf("Size = %d, %v; want 3345", n, err)
	}
	if _, err := Size(bytes.NewReader(buf.Bytes()), Limits{MaxBytes: 3000}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Size beyond MaxBytes: %v, want ErrInvalid", err)
	}
	if _, err := Size(bytes.NewReader([]byte("not gzip")), Limits{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Size of garbage: %v, want ErrInvalid", err)
	}
}
