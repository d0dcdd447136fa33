package blob_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/blob/blobtest"
)

func TestFS(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s, 1024, "orgs/1")
	// No temporary file is left behind.
	left, _ := os.ReadDir(filepath.Join(dir, ".tmp"))
	if len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
}

// NewFS removes the temporary files a killed process left (not modified
// for StaleTmpAge) and keeps the others, which may be uploads running in
// another replica.
func TestNewFSSweepsStaleTmp(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".tmp")
	if err := os.MkdirAll(tmp, 0o750); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"stale", "live", "recent"} {
		if err := os.WriteFile(filepath.Join(tmp, name), []byte("part of an upload"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-blob.StaleTmpAge - time.Minute)
	if err := os.Chtimes(filepath.Join(tmp, "stale"), old, old); err != nil {
		t.Fatal(err)
	}
	recent := time.Now().Add(-blob.StaleTmpAge + time.Hour)
	if err := os.Chtimes(filepath.Join(tmp, "recent"), recent, recent); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewFS(dir, 1024); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(tmp, "stale")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a stale temporary file is kept: %v", err)
	}
	for _, name := range []string{"live", "recent"} {
		if _, err := os.Stat(filepath.Join(tmp, name)); err != nil {
			t.Errorf("temporary file %s removed: %v", name, err)
		}
	}
}

// Keys under .tmp name Put's files being written, never an object: Get,
// Stat, Put and Delete refuse them.
func TestFSRefusesTmpKeys(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".tmp", "0123456789abcdef"), []byte("half an upload"), 0o640); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, key := range []string{".tmp/0123456789abcdef", ".tmp"} {
		if r, _, err := s.Get(ctx, key); !errors.Is(err, blob.ErrBadKey) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Get(%q): %v, want ErrBadKey", key, err)
		}
		if _, err := s.Stat(ctx, key); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Stat(%q): %v, want ErrBadKey", key, err)
		}
		if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Delete(%q): %v, want ErrBadKey", key, err)
		}
		if _, err := s.Put(ctx, key, strings.NewReader("x")); !errors.Is(err, blob.ErrBadKey) {
			t.Errorf("Put(%q): %v, want ErrBadKey", key, err)
		}
	}
	// A segment .tmp deeper in a key is an ordinary name.
	if _, err := s.Put(ctx, "orgs/1/.tmp", strings.NewReader("x")); err != nil {
		t.Errorf("Put(orgs/1/.tmp): %v", err)
	}
}
