package durable_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/hydrognn/hydrognn/shared/durable"
)

// TestSyncDir: a folder syncs; a missing one is an error naming it.
func TestSyncDir(t *testing.T) {
	dir := t.TempDir()
	if err := durable.SyncDir(dir); err != nil {
		t.Fatalf("SyncDir(%s): %v", dir, err)
	}
	missing := filepath.Join(dir, "gone")
	err := durable.SyncDir(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "sync folder "+missing+": ") {
		t.Fatalf("SyncDir(%s) = %v, want fs.ErrNotExist naming the folder", missing, err)
	}
}

// TestSyncClose: the writes' error comes back and the file is closed all
// the same; without one the file is synced and closed (nil); a sync that
// fails (a pipe: fsync is EINVAL on Linux) is the error and the file is
// closed all the same; a close that fails (a file already closed) is the
// error.
func TestSyncClose(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "a"))
	if err != nil {
		t.Fatal(err)
	}
	werr := errors.New("write failed")
	if err := durable.SyncClose(f, werr); err != werr {
		t.Errorf("SyncClose(f, werr) = %v, want werr", err)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after SyncClose: %v, want os.ErrClosed", err)
	}

	g, err := os.Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = g.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := durable.SyncClose(g, nil); err != nil {
		t.Errorf("SyncClose(g, nil) = %v", err)
	}
	if b, err := os.ReadFile(g.Name()); err != nil || string(b) != "data" {
		t.Errorf("read back %q, %v", b, err)
	}
	if err := durable.SyncClose(g, nil); !errors.Is(err, os.ErrClosed) {
		t.Errorf("SyncClose of a closed file = %v, want os.ErrClosed", err)
	}

	if runtime.GOOS != "linux" {
		return
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := durable.SyncClose(w, nil); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SyncClose of a pipe = %v, want the sync's EINVAL", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after a failed sync: %v, want os.ErrClosed (closed either way)", err)
	}
}
