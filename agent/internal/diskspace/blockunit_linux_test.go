package diskspace

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUsageCountsInFrsize: on Linux statfs counts blocks in f_frsize
// (statfs(2)), and df multiplies by it: Avail = f_bavail * f_frsize,
// Size = f_blocks * f_frsize. f_bsize, the preferred I/O size, differs on
// some FUSE and network file systems (here 1 MiB against 4 KiB
// fragments) and must not scale the counts. A zero f_frsize (kernels
// before 2.6) falls back to f_bsize.
func TestUsageCountsInFrsize(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   unix.Statfs_t
		want Usage
	}{
		{"frsize below bsize", unix.Statfs_t{Bsize: 1 << 20, Frsize: 4096, Blocks: 1000, Bfree: 300, Bavail: 250},
			Usage{Free: 250 * 4096, Size: 1000 * 4096}},
		{"frsize equal to bsize", unix.Statfs_t{Bsize: 4096, Frsize: 4096, Blocks: 1000, Bavail: 250},
			Usage{Free: 250 * 4096, Size: 1000 * 4096}},
		{"no frsize", unix.Statfs_t{Bsize: 512, Blocks: 1000, Bavail: 250},
			Usage{Free: 250 * 512, Size: 1000 * 512}},
	} {
		if got := usage(&tc.st); got != tc.want {
			t.Errorf("%s: usage(%+v) = %+v; want %+v (blocks counted in f_frsize, as df)", tc.name, tc.st, got, tc.want)
		}
	}
}

// TestStatAsDf compares Stat on a real directory with df's arithmetic on
// the standard library's statfs (Blocks*Frsize, Bavail*Frsize) and, where
// GNU df is there, with df's own byte counts: the same size, and the
// same free bytes give or take what other processes wrote between the
// calls.
func TestStatAsDf(t *testing.T) {
	dir := t.TempDir()
	u, err := Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	unit := uint64(st.Frsize)
	if want := st.Blocks * unit; u.Size != want || want == 0 {
		t.Errorf("Stat(%s).Size = %d, statfs says %d blocks of %d bytes (f_frsize) = %d", dir, u.Size, st.Blocks, unit, want)
	}
	near(t, "statfs's f_bavail*f_frsize", u, st.Bavail*unit)

	out, err := exec.Command("df", "--block-size=1", "--output=size,avail", dir).Output()
	if err != nil {
		t.Logf("no GNU df to compare with (%v): statfs only", err)
		return
	}
	f := strings.Fields(string(out)) // header: 1B-blocks Avail
	if len(f) != 4 {
		t.Fatalf("df --output=size,avail %s: %q; want a header and two numbers", dir, out)
	}
	size, err1 := strconv.ParseUint(f[2], 10, 64)
	avail, err2 := strconv.ParseUint(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("df --output=size,avail %s: %q: %v, %v", dir, out, err1, err2)
	}
	if u.Size != size {
		t.Errorf("Stat(%s).Size = %d, df says %d", dir, u.Size, size)
	}
	near(t, "df's Avail", u, avail)
}

// near fails t unless u.Free is within 64 MiB of want (other processes
// write meanwhile) and no more than u.Size.
func near(t *testing.T, what string, u Usage, want uint64) {
	t.Helper()
	if d := max(u.Free, want) - min(u.Free, want); d > 64<<20 || u.Free > u.Size {
		t.Errorf("Stat().Free = %d, %s says %d (size %d)", u.Free, what, want, u.Size)
	}
}
