package tarball_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tarball"
)

// TestExtractPrivateModes: whatever modes the archive gives (world
// writable, exec bits), Extract creates its folder, every folder and
// every file private to the user: 0700 folders, 0600 files, no exec bit.
// The agent extracts model bundles under its data_dir, where its own
// files are 0600/0700.
func TestExtractPrivateModes(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range []*tar.Header{
		{Name: "open/", Typeflag: tar.TypeDir, Mode: 0o777},
		{Name: "open/run.sh", Typeflag: tar.TypeReg, Mode: 0o4777, Size: 1},
		{Name: "model.onnx", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		{Name: "implied/dir/file", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(t.TempDir(), "out")
	if err := tarball.Extract(bytes.NewReader(buf.Bytes()), dst, tarball.Limits{}); err != nil {
		t.Fatal(err)
	}
	var n int
	err := filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 7 { // out, open, open/run.sh, model.onnx, implied, implied/dir, implied/dir/file
		t.Errorf("walked %d entries, want 7", n)
	}
}
