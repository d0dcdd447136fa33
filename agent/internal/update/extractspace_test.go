package update

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExtractionChecksSpaceAsItGoes: the space an extraction needs is
// checked file by file while the archive unpacks, in its one pass (no
// pass of its own to add up the sizes first): a disk that runs out after
// the first file stops the extraction there with ErrDiskFull, no attempt
// counted, the staging folder removed and the part file kept.
func TestExtractionChecksSpaceAsItGoes(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	var calls int
	var staged []string // regular files in bundles/ at each extraction check
	free := func(dir string) (int64, error) {
		calls++
		if calls == 1 {
			return 1 << 40, nil // the download
		}
		var files []string
		_ = filepath.WalkDir(filepath.Join(dir, "bundles"), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		staged = append(staged, filepath.Join(files...))
		if calls == 2 {
			return 1 << 40, nil // the first file
		}
		return 0, nil
	}
	a := f.open(func(o *Options) { o.FreeSpace = free })
	err := a.Cycle(t.Context())
	st := a.Status()
	if !errors.Is(err, ErrDiskFull) || st.State != Downloading || st.Attempts[path] != 0 || st.CycleErrors["disk_full"] != 1 {
		t.Fatalf("disk full during the extraction: %v, state %s, attempts %v, cycle errors %v", err, st.State, st.Attempts, st.CycleErrors)
	}
	if calls != 3 || len(staged) != 2 || staged[0] != "" || staged[1] == "" {
		t.Errorf("%d free-space checks, files staged at the extraction's checks %q: want one before the first file, "+
			"one after it was written", calls, staged)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.dir, "bundles")); len(ents) != 0 {
		t.Errorf("bundles/ after the refusal: %v", ents)
	}
	if fi, err := os.Stat(a.partPath(st.Target.SHA256)); err != nil || fi.Size() != st.Target.Length {
		t.Errorf("part file after the refusal: %v %v", fi, err)
	}
}
