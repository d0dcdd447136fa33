package tarball_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tarball"
	"github.com/hydrognn/hydrognn/shared/tmpfstest"
)

// archiveOf writes files (slash-separated name: size in bytes of 'x')
// into a folder and returns its archive.
func archiveOf(t *testing.T, files map[string]int) []byte {
	t.Helper()
	src := t.TempDir()
	for name, n := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte{'x'}, n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := tarball.Write(&buf, src); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestExtractBeforeFile: Extract hands each regular file's name and size
// to Limits.BeforeFile before it creates the file, while it extracts, in
// the one pass over the archive (the files before are already written,
// the archive read once); the hook's error stops the extraction, matched
// as itself and not as ErrInvalid, with the file it refused not created.
func TestExtractBeforeFile(t *testing.T) {
	files := map[string]int{"a": 1000, "sub/b": 2345, "sub/deeper/c": 0}
	data := archiveOf(t, files)
	dst := filepath.Join(t.TempDir(), "out")
	var seen []string
	var total int64
	r := &countingReader{r: bytes.NewReader(data)}
	err := tarball.Extract(r, dst, tarball.Limits{BeforeFile: func(name string, size int64) error {
		if size != int64(files[name]) {
			t.Errorf("BeforeFile(%q, %d): the file is %d bytes", name, size, files[name])
		}
		if _, err := os.Stat(filepath.Join(dst, filepath.FromSlash(name))); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("BeforeFile(%q): the file exists already (%v)", name, err)
		}
		for _, prev := range seen {
			if fi, err := os.Stat(filepath.Join(dst, filepath.FromSlash(prev))); err != nil || fi.Size() != int64(files[prev]) {
				t.Errorf("BeforeFile(%q): %s, before it, not written yet: %v %v", name, prev, fi, err)
			}
		}
		seen = append(seen, name)
		total += size
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != len(files) || total != 3345 {
		t.Errorf("BeforeFile saw %v, %d bytes; want the 3 files, 3345 bytes", seen, total)
	}
	if r.n != int64(len(data)) {
		t.Errorf("read %d bytes of the %d-byte archive", r.n, len(data))
	}

	full := errors.New("no room")
	dst2 := filepath.Join(t.TempDir(), "out")
	var calls int
	err = tarball.Extract(bytes.NewReader(data), dst2, tarball.Limits{BeforeFile: func(name string, _ int64) error {
		if calls++; calls == 2 {
			return full
		}
		return nil
	}})
	if !errors.Is(err, full) || errors.Is(err, tarball.ErrInvalid) {
		t.Fatalf("refused by BeforeFile: %v, want the hook's error, not ErrInvalid", err)
	}
	if calls != 2 {
		t.Errorf("BeforeFile called %d times after refusing the second file", calls)
	}
	var written int
	_ = filepath.WalkDir(dst2, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			written++
		}
		return err
	})
	if written != 1 {
		t.Errorf("%d files written, want only the one before the refusal", written)
	}
}

// TestExtractDiskFull extracts onto a real file system too small for the
// archive, its bytes or its files: the error matches syscall.ENOSPC (a
// caller can tell a full disk from a bad archive: a job retried, not
// failed for a bad data set) and not ErrInvalid.
func TestExtractDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name, opts string
		files      map[string]int
	}{
		{"bytes", "size=256k", map[string]int{"small": 1000, "big": 1 << 20}},
		{"inodes", "size=1m,nr_inodes=4", map[string]int{"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tmpfstest.Mount(t, tc.opts)
			data := archiveOf(t, tc.files)
			err := tarball.Extract(bytes.NewReader(data), filepath.Join(dir, "out"), tarball.Limits{})
			if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, tarball.ErrInvalid) {
				t.Fatalf("extract onto a full disk: %v, want ENOSPC, not ErrInvalid", err)
			}
		})
	}
}
