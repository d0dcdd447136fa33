package update

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hydrognn/hydrognn/shared/tmpfstest"
)

// fill writes a file at p until its file system is full, then gives back
// leave bytes of it, as a reading buffer growing on the shared disk does.
func fill(t *testing.T, p string, leave int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(max(n-leave, 0)); err != nil {
		t.Fatal(err)
	}
}

// TestNoSpaceDuringDownload: the free-space check before the download
// passed, then the disk filled up (the reading buffer grew) and a write of
// the part file failed with ENOSPC on a real file system. That is a full
// disk, not a failed download: ErrDiskFull (cycle error "disk_full"), no
// attempt counted however often it happens, the bytes the download wrote
// given back to the disk, and once there is room the release installs.
func TestNoSpaceDuringDownload(t *testing.T) {
	f := newFixture(t, "1.0.0")
	tmpfstest.MountAt(t, f.dir, "size=4m")
	path := f.release("1.1.0", nil, nil)
	filler := filepath.Join(f.dir, "filler")
	// The check sees room; the disk fills up right after it, leaving less
	// than the archive.
	filled := false
	free := func(string) (int64, error) {
		if !filled {
			fill(t, filler, 8<<10)
			filled = true
		}
		return 1 << 40, nil
	}
	a := f.open(func(o *Options) { o.FreeSpace = free; o.MaxAttempts = 2 })
	for i := range 3 {
		err := a.Cycle(t.Context())
		st := a.Status()
		if i == 0 {
			if fi, err := os.Stat(a.partPath(st.Target.SHA256)); err != nil || fi.Size() != 0 {
				t.Errorf("part file after the full disk: %v %v, want the bytes written given back", fi, err)
			}
		}
		if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || CycleErrorReason(err) != "disk_full" ||
			st.State != Downloading || st.Attempts[path] != 0 || st.CycleErrors["disk_full"] != uint64(i+1) {
			t.Fatalf("cycle %d, disk full during the download: %v (reason %s), state %s, attempts %v, cycle errors %v",
				i+1, err, CycleErrorReason(err), st.State, st.Attempts, st.CycleErrors)
		}
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed || a.Status().Installed.Version != "1.1.0" {
		t.Fatalf("with room: %v, %+v", err, a.Status().Record)
	}
}

// TestNoSpaceDuringExtraction: downloaded, the check before the first
// extracted file passed, then the disk filled up and the extraction's
// write failed with ENOSPC: ErrDiskFull, not a failed verification (which
// counts an attempt), back to downloading with the complete part file
// kept and the staging folder removed; with room, the next cycle installs
// without downloading again.
func TestNoSpaceDuringExtraction(t *testing.T) {
	f := newFixture(t, "1.0.0")
	tmpfstest.MountAt(t, f.dir, "size=4m")
	path := f.release("1.1.0", nil, nil)
	filler := filepath.Join(f.dir, "filler")
	var calls int
	free := func(string) (int64, error) {
		if calls++; calls == 2 { // the extraction's first file
			fill(t, filler, 16<<10) // room for the state, not the bundle
		}
		return 1 << 40, nil
	}
	a := f.open(func(o *Options) { o.FreeSpace = free })
	err := a.Cycle(t.Context())
	st := a.Status()
	if !errors.Is(err, ErrDiskFull) || !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrVerify) ||
		st.State != Downloading || st.Attempts[path] != 0 || st.CycleErrors["disk_full"] != 1 {
		t.Fatalf("disk full during the extraction: %v, state %s, attempts %v, cycle errors %v", err, st.State, st.Attempts, st.CycleErrors)
	}
	if fi, err := os.Stat(a.partPath(st.Target.SHA256)); err != nil || fi.Size() != st.Target.Length {
		t.Fatalf("part file after the refusal: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles")); len(ents) != 0 {
		t.Errorf("bundles/ after a failed extraction: %v", ents)
	}
	n := len(f.archiveRequests())
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed {
		t.Fatalf("with room: %v, %+v", err, a.Status().Record)
	}
	if reqs := f.archiveRequests(); len(reqs) != n {
		t.Errorf("downloaded again: %v", reqs[n:])
	}
}
