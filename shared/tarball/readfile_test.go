package tarball_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tarball"
)

// ReadFile finds one file of an archive, refuses one over its cap, and
// says when the file is not there.
func TestReadFile(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for n, c := range map[string]string{"manifest.json": `{"format_version":2}`, "model.onnx": "xxxx", "a/b.txt": "b"} {
		if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(n)), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := tarball.Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"manifest.json": `{"format_version":2}`, "a/b.txt": "b", "model.onnx": "xxxx"} {
		got, err := tarball.ReadFile(bytes.NewReader(buf.Bytes()), name, 100)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	if _, err := tarball.ReadFile(bytes.NewReader(buf.Bytes()), "manifest.json", 5); !errors.Is(err, tarball.ErrInvalid) {
		t.Errorf("over the cap: %v", err)
	}
	for _, name := range []string{"other.json", "a"} {
		if _, err := tarball.ReadFile(bytes.NewReader(buf.Bytes()), name, 100); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := tarball.ReadFile(bytes.NewReader([]byte("not gzip")), "manifest.json", 100); !errors.Is(err, tarball.ErrInvalid) {
		t.Errorf("not an archive: %v", err)
	}
}
