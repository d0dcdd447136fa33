package diskspace

import (
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestFree(t *testing.T) {
	n, err := Free(t.TempDir())
	if err != nil || n == 0 {
		t.Fatalf("Free(temp dir) = %d, %v; want some bytes", n, err)
	}
	if _, err := Free("/nonexistent/dir/x"); err == nil {
		t.Error("Free of a missing folder: no error")
	}
}

// TestStat: some room on a real directory's file system, no more free
// than its size, and an error naming a missing folder. The exact figures
// are checked against statfs and df on Linux (TestStatAsDf).
func TestStat(t *testing.T) {
	dir := t.TempDir()
	u, err := Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if u.Size == 0 || u.Free == 0 || u.Free > u.Size {
		t.Errorf("Stat(%s) = %+v; want some free bytes, no more than the size", dir, u)
	}
	if _, err := Stat("/nonexistent/dir/x"); err == nil {
		t.Error("Stat of a missing folder: no error")
	}
}

// TestStatDevice: Stat's Device is the directory's st_dev as major:minor,
// the same for two directories of one file system and another for a
// directory of another mount (/proc, where there is one).
func TestStatDevice(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ua, err := Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	var fi unix.Stat_t
	if err := unix.Stat(a, &fi); err != nil {
		t.Fatal(err)
	}
	dev := uint64(fi.Dev) //nolint:unconvert // field types differ per OS
	if want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)); ua.Device != want {
		t.Errorf("Stat(%s).Device = %q; stat's st_dev is %s", a, ua.Device, want)
	}
	if ub, err := Stat(b); err != nil || ub.Device != ua.Device {
		t.Errorf("Stat(%s) = %+v, %v; want the Device of %s (%s), on the same file system", b, ub, err, a, ua.Device)
	}
	if up, err := Stat("/proc"); err == nil && up.Device == ua.Device {
		t.Errorf("Stat(/proc).Device = %q, as %s's: want another file system's", up.Device, a)
	}
}
