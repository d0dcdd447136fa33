package tarball_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tarball"
)

func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"x.txt": "1 2 3\n", "a/b/y.txt": "hello", "a/empty": ""}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(n)), []byte(c), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var one, two bytes.Buffer
	if err := tarball.Write(&one, src); err != nil {
		t.Fatal(err)
	}
	if err := tarball.Write(&two, src); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), two.Bytes()) {
		t.Error("the same folder gave different archives")
	}
	if err := tarball.Check(bytes.NewReader(one.Bytes()), tarball.Limits{}); err != nil {
		t.Error(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	if err := tarball.Extract(bytes.NewReader(one.Bytes()), dst, tarball.Limits{}); err != nil {
		t.Fatal(err)
	}
	for n, c := range files {
		b, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(n)))
		if err != nil || string(b) != c {
			t.Errorf("%s: %q, %v", n, b, err)
		}
	}
	if err := tarball.Extract(bytes.NewReader(one.Bytes()), t.TempDir(), tarball.Limits{MaxBytes: 5}); !errors.Is(err, tarball.ErrInvalid) {
		t.Errorf("over MaxBytes: %v", err)
	}
	if err := tarball.Extract(bytes.NewReader(one.Bytes()), t.TempDir(), tarball.Limits{MaxFiles: 2}); !errors.Is(err, tarball.ErrInvalid) {
		t.Errorf("over MaxFiles: %v", err)
	}
}

func TestExtractRefuses(t *testing.T) {
	for name, hdr := range map[string]tar.Header{
		"parent":   {Name: "../evil", Typeflag: tar.TypeReg, Size: 1},
		"absolute": {Name: "/etc/evil", Typeflag: tar.TypeReg, Size: 1},
		"inner":    {Name: "a/../../evil", Typeflag: tar.TypeReg, Size: 1},
		"symlink":  {Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd"},
		"hardlink": {Name: "link", Typeflag: tar.TypeLink, Linkname: "x"},
		"device":   {Name: "dev", Typeflag: tar.TypeChar},
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			tw := tar.NewWriter(zw)
			_ = tw.WriteHeader(&hdr)
			if hdr.Size > 0 {
				_, _ = tw.Write([]byte("x"))
			}
			_ = tw.Close()
			_ = zw.Close()
			if err := tarball.Check(bytes.NewReader(buf.Bytes()), tarball.Limits{}); !errors.Is(err, tarball.ErrInvalid) {
				t.Errorf("Check accepted: %v", err)
			}
			dir := t.TempDir()
			if err := tarball.Extract(&buf, filepath.Join(dir, "out"), tarball.Limits{}); !errors.Is(err, tarball.ErrInvalid) {
				t.Errorf("accepted: %v", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "evil")); err == nil {
				t.Error("wrote outside the folder")
			}
		})
	}
	if err := tarball.Extract(bytes.NewReader([]byte("not gzip")), t.TempDir(), tarball.Limits{}); !errors.Is(err, tarball.ErrInvalid) {
		t.Errorf("garbage: %v", err)
	}
}
