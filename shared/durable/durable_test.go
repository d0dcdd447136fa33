package durable_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
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
