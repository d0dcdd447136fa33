package tufrepo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// withoutLinks makes link fail as on a file system without hard links
// (SMB/CIFS, s3fs) until the test ends, and forgets dir's probed mode.
func withoutLinks(t *testing.T, dir string) {
	t.Helper()
	old := link
	link = func(string, string) error { return &os.LinkError{Op: "link", Err: syscall.EPERM} }
	t.Cleanup(func() { link = old })
	linkModes.Delete(dir)
	t.Cleanup(func() { linkModes.Delete(dir) })
}

// linkModesTests runs f once with hard links and once without.
func linkModesTests(t *testing.T, f func(t *testing.T, dir string)) {
	t.Helper()
	for _, links := range []bool{true, false} {
		t.Run(fmt.Sprintf("links=%v", links), func(t *testing.T) {
			dir := t.TempDir()
			if links {
				t.Cleanup(func() { linkModes.Delete(dir) })
			} else {
				withoutLinks(t, dir)
			}
			f(t, dir)
		})
	}
}

// writeAged writes b to name, last modified age ago.
func writeAged(t *testing.T, name string, b []byte, age time.Duration) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(name, at, at); err != nil {
		t.Fatal(err)
	}
}

// readBack returns name's bytes.
func readBack(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// noTmpLeft fails the test when dir holds temporary files.
func noTmpLeft(t *testing.T, dir string) {
	t.Helper()
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// metadataBytes is a stand-in for signed metadata: complete JSON of about
// n bytes that differs per writer.
func metadataBytes(writer, n int) []byte {
	return fmt.Appendf(nil, `{"signed":{"writer":%d,"pad":%q},"signatures":[]}`, writer, strings.Repeat("x", n))
}

// A writer killed mid-write leaves what older code (O_EXCL, then write
// in place) left: the versioned file cut short, and its temporary file.
// Once StaleWriteAge old, both are removed and the version is written;
// before, the write-once rule refused that version forever (a
// publication of N.targets.json could never go through).
func TestDamagedVersionCleared(t *testing.T) {
	want := metadataBytes(1, 4096)
	for name, left := range map[string][]byte{
		"empty": {},
		"half":  want[:len(want)/2],
		"zeros": make([]byte, len(want)),
		// Complete JSON, but the write's proper prefix.
		"prefix": []byte(`{}`),
	} {
		t.Run(name, func(t *testing.T) {
			w := want
			if name == "prefix" {
				w = []byte("{}\n")
			}
			linkModesTests(t, func(t *testing.T, dir string) {
				final := filepath.Join(dir, "2.targets.json")
				writeAged(t, final, left, 2*StaleWriteAge)
				writeAged(t, filepath.Join(dir, ".tmp-123456"), w, 2*StaleWriteAge)
				r := &Repo{dir: dir}
				if err := r.versionFree("targets", 2, w); err != nil {
					t.Errorf("versionFree over a stale damaged file: %v", err)
				}
				if err := r.writeFile(final, w, true); err != nil {
					t.Fatalf("write over a stale damaged file: %v", err)
				}
				if got := readBack(t, final); !bytes.Equal(got, w) {
					t.Errorf("the file holds %d bytes, want the %d written", len(got), len(w))
				}
				noTmpLeft(t, dir)
			})
		})
	}
}

// A damaged file modified recently may be a write in progress: it is
// refused (ErrVersionTaken, saying it is damaged) and left as it is, as
// is a complete file with other bytes, however old.
func TestDamagedVersionRecentKept(t *testing.T) {
	linkModesTests(t, func(t *testing.T, dir string) {
		final := filepath.Join(dir, "3.snapshot.json")
		half := []byte(`{"signed":{"_ty`)
		writeAged(t, final, half, time.Minute)
		r := &Repo{dir: dir}
		err := r.writeFile(final, metadataBytes(1, 10), true)
		if !errors.Is(err, ErrVersionTaken) || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("write over a recent damaged file = %v, want ErrVersionTaken saying damaged", err)
		}
		if err := r.versionFree("snapshot", 3, metadataBytes(1, 10)); !errors.Is(err, ErrVersionTaken) {
			t.Errorf("versionFree = %v, want ErrVersionTaken", err)
		}
		if got := readBack(t, final); !bytes.Equal(got, half) {
			t.Errorf("the damaged file was changed to %q", got)
		}
		other := metadataBytes(2, 10)
		writeAged(t, final, other, 2*StaleWriteAge)
		if err := r.writeFile(final, metadataBytes(1, 10), true); !errors.Is(err, ErrVersionTaken) || strings.Contains(err.Error(), "damaged") {
			t.Fatalf("write over another writer's old file = %v, want ErrVersionTaken (other bytes)", err)
		}
		if got := readBack(t, final); !bytes.Equal(got, other) {
			t.Errorf("another writer's file was changed to %q", got)
		}
		noTmpLeft(t, dir)
	})
}

// Clearing a damaged file removes only the file inspected: one another
// writer put there meanwhile (it cleared the damaged file first and
// wrote its own) is put back and the version reported taken.
func TestClearDamagedRace(t *testing.T) {
	dir := t.TempDir()
	final := filepath.Join(dir, "2.targets.json")
	writeAged(t, final, nil, 2*StaleWriteAge)
	seen, err := inspect(final, metadataBytes(1, 10))
	if err != nil || !seen.damaged || !seen.stale {
		t.Fatalf("inspect = %+v, %v: want damaged and stale", seen, err)
	}
	if err := os.Remove(final); err != nil {
		t.Fatal(err)
	}
	theirs := metadataBytes(2, 10)
	if err := os.WriteFile(final, theirs, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := clearDamaged(seen); !errors.Is(err, ErrVersionTaken) {
		t.Fatalf("clearDamaged = %v, want ErrVersionTaken", err)
	}
	if got := readBack(t, final); !bytes.Equal(got, theirs) {
		t.Errorf("the other writer's file is %q", got)
	}
	noTmpLeft(t, dir)
}

// Several writers (rig-cloud replicas sharing the folder) write one
// version at once, each its own bytes: exactly one wins, every other gets
// ErrVersionTaken, and the file holds the winner's bytes in full.
func TestWriteOnceConcurrent(t *testing.T) {
	const writers = 8
	linkModesTests(t, func(t *testing.T, dir string) {
		final := filepath.Join(dir, "5.timestamp.json")
		errs := make([]error, writers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				r := &Repo{dir: dir}
				<-start
				errs[i] = r.writeFile(final, metadataBytes(i, 256<<10), true)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("writers %d and %d both wrote the version", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, ErrVersionTaken):
				t.Errorf("writer %d: %v, want ErrVersionTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatal("no writer wrote the version")
		}
		if got := readBack(t, final); !bytes.Equal(got, metadataBytes(winner, 256<<10)) {
			t.Errorf("the file holds %d bytes, not writer %d's", len(got), winner)
		}
		noTmpLeft(t, dir)
	})
}

// A Repo's first write removes the temporary files a killed writer left
// (StaleWriteAge old; .probe-* of older code too), and keeps recent ones:
// another writer's, in progress.
func TestStaleTmpSwept(t *testing.T) {
	r, keys := newRepo(t, Options{})
	dir := r.Dir()
	stale := []string{".tmp-111", ".tmp-damaged-22-2.targets.json", ".probe-333"}
	for _, f := range stale {
		writeAged(t, filepath.Join(dir, f), []byte("left"), 2*StaleWriteAge)
	}
	writeAged(t, filepath.Join(dir, ".tmp-444"), []byte("in progress"), time.Minute)
	again := mustOpen(t, dir, keys, Options{})
	if err := again.RefreshTimestamp(); err != nil {
		t.Fatal(err)
	}
	for _, f := range stale {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s: %v, want it removed", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".tmp-444")); err != nil {
		t.Errorf("a recent temporary file was removed: %v", err)
	}
}

// Open names the metadata file it cannot read, and calls one cut short
// damaged.
func TestOpenDamaged(t *testing.T) {
	r, keys := newRepo(t, Options{})
	name := filepath.Join(r.Dir(), "timestamp.json")
	b := readBack(t, name)
	if err := os.WriteFile(name, b[:len(b)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(r.Dir(), keys, Options{})
	if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("Open = %v, want an error naming %s as damaged", err, name)
	}
}

// A publication killed while it wrote N.targets.json left the file cut
// short: the same targets published again go through once it is
// StaleWriteAge old (before, every retry was refused as the version
// taken, for good).
func TestPublishOverDamagedTargets(t *testing.T) {
	srv, _, offline := onlineRepo(t)
	s, arch := signed(t, srv, offline, "1.0.0")
	final := filepath.Join(srv.Dir(), "2.targets.json")
	writeAged(t, final, s.Targets[:len(s.Targets)/2], 2*StaleWriteAge)
	if _, _, err := srv.Publish(s.Targets, arch); err != nil {
		t.Fatalf("Publish over a stale damaged 2.targets.json: %v", err)
	}
	if got := readBack(t, final); !bytes.Equal(got, s.Targets) {
		t.Errorf("2.targets.json is not the published targets")
	}
	if v := srv.Versions(); v["targets"] != 2 || v["snapshot"] != 2 {
		t.Errorf("versions %v, want targets and snapshot 2", v)
	}
}
