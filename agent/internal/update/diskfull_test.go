package update

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// freeDisk is an Options.FreeSpace whose answers the test sets: each call
// takes the next of answers, the last one again once they run out.
type freeDisk struct {
	mu      sync.Mutex
	answers []int64
	calls   int
}

func (d *freeDisk) free(string) (int64, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	a := d.answers[0]
	if len(d.answers) > 1 {
		d.answers = d.answers[1:]
	}
	return a, nil
}

func (d *freeDisk) set(answers ...int64) {
	d.mu.Lock()
	d.answers = answers
	d.mu.Unlock()
}

// TestDiskFullBeforeDownload: a release was downloaded onto the disk the
// reading buffer shares whatever room was left, filling it (the buffer
// then dropped readings) and failing the attempt midway. With less free
// than the archive plus DiskReserve the download is not started: the cycle
// ends with ErrDiskFull (cycle error "disk_full"), nothing requested or
// counted, and the next cycle with room installs it.
func TestDiskFullBeforeDownload(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	disk := &freeDisk{answers: []int64{DefaultDiskReserve + 1000}}
	a := f.open(func(o *Options) { o.FreeSpace = disk.free })
	err := a.Cycle(t.Context())
	st := a.Status()
	if !errors.Is(err, ErrDiskFull) || st.State != Downloading || st.Attempts[path] != 0 || st.CycleErrors["disk_full"] != 1 {
		t.Fatalf("download on a full disk: %v, state %s, attempts %v, cycle errors %v", err, st.State, st.Attempts, st.CycleErrors)
	}
	if reqs := f.archiveRequests(); len(reqs) != 0 {
		t.Errorf("archive requested on a full disk: %v", reqs)
	}
	// A restart meanwhile counts nothing either.
	a = f.open(func(o *Options) { o.FreeSpace = disk.free })
	disk.set(1 << 40)
	if err := a.Cycle(t.Context()); err != nil || a.Status().State != Committed || a.Status().Installed.Version != "1.1.0" {
		t.Fatalf("with room: %v, %+v", err, a.Status().Record)
	}
}

// TestDiskFullBeforeExtraction: downloaded, but the disk has no room for
// the extracted bundle: the extraction is not started, the state goes
// back to downloading (a restart there counts no attempt), the complete
// part file is kept, and the next cycle with room verifies it without
// downloading it again.
func TestDiskFullBeforeExtraction(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	disk := &freeDisk{answers: []int64{1 << 40, DefaultDiskReserve}} // room to download, none to extract
	a := f.open(func(o *Options) { o.FreeSpace = disk.free })
	err := a.Cycle(t.Context())
	st := a.Status()
	if !errors.Is(err, ErrDiskFull) || st.State != Downloading || st.Attempts[path] != 0 || st.Target == nil || st.CycleErrors["disk_full"] != 1 {
		t.Fatalf("extraction on a full disk: %v, state %s, attempts %v, cycle errors %v", err, st.State, st.Attempts, st.CycleErrors)
	}
	if fi, err := os.Stat(a.partPath(st.Target.SHA256)); err != nil || fi.Size() != st.Target.Length {
		t.Fatalf("part file after the refusal: %v %v", fi, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles")); len(ents) != 0 {
		t.Errorf("bundles/ after a refused extraction: %v", ents)
	}
	n := len(f.archiveRequests())
	b := f.open(func(o *Options) { o.FreeSpace = disk.free })
	if st := b.Status(); st.Attempts[path] != 0 {
		t.Fatalf("restart after the refusal: attempts %v", st.Attempts)
	}
	disk.set(1 << 40)
	if err := b.Cycle(t.Context()); err != nil || b.Status().State != Committed {
		t.Fatalf("with room: %v, %+v", err, b.Status().Record)
	}
	if reqs := f.archiveRequests(); len(reqs) != n {
		t.Errorf("downloaded again: %v", reqs[n:])
	}
}

// TestRunWaitsOnFullDisk: an offered release refused for want of disk
// space is tried again at the next check, not within seconds
// (Run's short backoff is for a cloud that may be back any moment; a disk frees
// up slowly).
func TestRunWaitsOnFullDisk(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	offers := &fakeOffers{}
	offers.set(&cloudapi.Offer{Target: path, Version: "1.1.0", Rollout: 4})
	disk := &freeDisk{answers: []int64{0}}
	a := f.open(func(o *Options) {
		o.Offers = offers
		o.CheckInterval = time.Hour
		o.FreeSpace = disk.free
		o.RetryMin = 100 * time.Millisecond
	})
	defer runManager(t, a)()
	waitFor(t, "a disk_full cycle", func() bool { return a.Status().CycleErrors["disk_full"] >= 1 })
	time.Sleep(500 * time.Millisecond)
	if st := a.Status(); st.CycleErrors["disk_full"] != 1 || st.Attempts[path] != 0 {
		t.Errorf("%s after a full disk: %d disk_full cycles (want 1, the next at the next check), attempts %v",
			500*time.Millisecond, st.CycleErrors["disk_full"], st.Attempts)
	}
}
