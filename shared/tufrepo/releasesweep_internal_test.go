package tufrepo

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"testing"
	"time"
)

// An AddBundle killed before its rename leaves its archive (.release-*)
// beside the target files: a Repo's first AddBundle removes those
// StaleWriteAge old from every folder under targets/ (the released
// bundle's and others'), and keeps recent ones: another AddBundle's, in
// progress.
func TestStaleReleaseArchivesSwept(t *testing.T) {
	r, keys := newRepo(t, Options{})
	rel, _, err := r.AddBundle(testBundle(t, "1.0.0"), nil)
	if err != nil {
		t.Fatal(err)
	}
	targets := filepath.Join(r.Dir(), "targets")
	sub := filepath.Join(targets, filepath.FromSlash(path.Dir(rel.Path())))
	other := filepath.Join(targets, "other-bundle")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	stale := []string{filepath.Join(sub, ".release-111"), filepath.Join(other, ".release-222")}
	for _, f := range stale {
		writeAged(t, f, []byte("half an archive"), 2*StaleWriteAge)
	}
	recent := filepath.Join(sub, ".release-333")
	writeAged(t, recent, []byte("in progress"), time.Minute)
	kept := filepath.Join(sub, "release-444.tar.gz") // not a temporary name
	writeAged(t, kept, []byte("not ours"), 2*StaleWriteAge)

	again := mustOpen(t, r.Dir(), keys, Options{})
	if _, _, err := again.AddBundle(testBundle(t, "1.1.0"), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s: %v, want it removed", f, err)
		}
	}
	for _, f := range []string{recent, kept} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", f, err)
		}
	}
	left, _ := filepath.Glob(filepath.Join(sub, ".release-*"))
	if len(left) != 1 || left[0] != recent {
		t.Errorf("temporary archives left: %v, want only the recent one", left)
	}
}
