// Package tmpfstest mounts small tmpfs file systems for tests of what a
// full disk does: a real file system out of bytes or out of inodes
// (ENOSPC from the kernel, at a create, a write or a sync), not an
// injected error. Mounting needs root: elsewhere, or where mounting is not
// allowed (a container without CAP_SYS_ADMIN), the test is skipped.
//
//	dir := tmpfstest.Mount(t, "size=3m")
//	dir := tmpfstest.Mount(t, "size=1m,nr_inodes=8")
//
// It is for tests only.
package tmpfstest

import (
	"os"
	"os/exec"
	"testing"
)

// Mount mounts a tmpfs with opts (mount -o: size=..., nr_inodes=...) on a
// fresh temporary folder and returns the folder; it is unmounted when the
// test ends.
func Mount(t testing.TB, opts string) string {
	t.Helper()
	skipUnlessRoot(t)
	dir := t.TempDir()
	mount(t, dir, opts)
	return dir
}

// MountAt mounts a tmpfs with opts on dir (created if needed), for a test
// whose code under test picks the folder's path; it is unmounted when the
// test ends.
func MountAt(t testing.TB, dir, opts string) {
	t.Helper()
	skipUnlessRoot(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(t, dir, opts)
}

func skipUnlessRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
}

func mount(t testing.TB, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}
