package tmpfstest_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tmpfstest"
)

// A mounted tmpfs runs out of bytes and of inodes as its options say.
func TestMount(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=1m,nr_inodes=8")
	err := os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("x"), 2<<20), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("2 MiB on a 1 MiB tmpfs: %v, want ENOSPC", err)
	}
	for i := range 10 {
		if err = os.WriteFile(filepath.Join(dir, fmt.Sprint(i)), nil, 0o600); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("10 files on a tmpfs of 8 inodes: %v, want ENOSPC", err)
	}
}

// MountAt creates the folder and mounts on it.
func TestMountAt(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	tmpfstest.MountAt(t, dir, "size=1m")
	err := os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("x"), 2<<20), 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("2 MiB on a 1 MiB tmpfs: %v, want ENOSPC", err)
	}
}
