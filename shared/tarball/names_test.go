package tarball

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"
)

// archiveOf writes a tar.gz of the named regular files (content "x").
func archiveOf(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range names {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestNameNoFileSystemTakesIsInvalid: an entry whose name no file system
// can create (a component over 255 bytes: ENAMETOOLONG, a name over
// PATH_MAX) or that lies under an earlier regular file (ENOTDIR) can never
// be extracted: Check refuses it at upload and Extract returns ErrInvalid,
// so the cloud's worker fails such a data set for good instead of
// retrying it as if the disk had failed.
func TestNameNoFileSystemTakesIsInvalid(t *testing.T) {
	long := strings.Repeat("a", 256)
	deep := strings.Repeat(strings.Repeat("d", 200)+"/", 21) + "f"
	for name, names := range map[string][]string{
		"long component": {"ok.csv", "data/" + long},
		"long name":      {deep},
		"under a file":   {"a", "a/b"},
		"deep under":     {"a/b", "a/b/c/d"},
	} {
		t.Run(name, func(t *testing.T) {
			b := archiveOf(t, names...)
			if err := Check(bytes.NewReader(b), Limits{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Check: %v, want ErrInvalid", err)
			}
			if err := Extract(bytes.NewReader(b), t.TempDir(), Limits{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Extract: %v, want ErrInvalid", err)
			}
		})
	}
	// At the limits, it extracts.
	b := archiveOf(t, "data/"+strings.Repeat("a", 255), "a/b", "a/c")
	if err := Check(bytes.NewReader(b), Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := Extract(bytes.NewReader(b), t.TempDir(), Limits{}); err != nil {
		t.Fatal(err)
	}
}
