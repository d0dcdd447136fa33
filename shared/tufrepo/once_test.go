package tufrepo

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Two writers that re-sign the same repository at once (each read it
// before the other wrote): the one that writes second finds its snapshot
// version taken and fails (ErrVersionTaken) instead of replacing the
// other's file; what the first wrote stays, and Guard was asked before
// each file. The second writer is run inside the first's Guard, just
// before the first puts its first file in place.
func TestVersionWrittenOnce(t *testing.T) {
	r, keys := newRepo(t, Options{})
	now := time.Now()
	second := mustOpen(t, r.Dir(), keys, Options{Now: func() time.Time { return now.Add(time.Minute) }})
	var guarded int
	var secondErr error
	first, err := Open(r.Dir(), keys, Options{Now: func() time.Time { return now }, Guard: func() error {
		guarded++
		if guarded == 1 {
			secondErr = second.Refresh()
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(r.Dir(), name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	err = first.Refresh()
	if secondErr != nil {
		t.Fatalf("the second writer: %v", secondErr)
	}
	if !errors.Is(err, ErrVersionTaken) {
		t.Fatalf("the first writer's Refresh = %v, want ErrVersionTaken", err)
	}
	if guarded != 1 {
		t.Errorf("Guard called %d times before the refused write, want 1", guarded)
	}
	want, _ := second.snapshot.ToBytes(true)
	if got := read("2.snapshot.json"); !bytes.Equal(got, want) {
		t.Errorf("2.snapshot.json is not the second writer's:\n%s", got)
	}
	if got := read("snapshot.json"); !bytes.Equal(got, want) {
		t.Errorf("snapshot.json is not the second writer's:\n%s", got)
	}
	again := mustOpen(t, r.Dir(), keys, Options{})
	if v := again.Versions(); v["snapshot"] != 2 || v["timestamp"] != 2 {
		t.Errorf("versions %v, want snapshot and timestamp 2", v)
	}
	if !again.Expires("timestamp").Equal(second.Expires("timestamp")) {
		t.Errorf("timestamp expires %s, want the second writer's %s", again.Expires("timestamp"), second.Expires("timestamp"))
	}

	// Writing the same bytes again (a retry) is fine.
	if err := again.writeVersioned("snapshot", 2, want, true); err != nil {
		t.Errorf("rewriting the same bytes: %v", err)
	}
}

// A versioned file left without its unversioned copy (a writer that
// failed or crashed between the two) is never replaced: the next signing
// takes the version after it.
func TestVersionLeftBehindSkipped(t *testing.T) {
	r, keys := newRepo(t, Options{})
	for _, f := range []string{"2.snapshot.json", "3.snapshot.json", "2.timestamp.json"} {
		if err := os.WriteFile(filepath.Join(r.Dir(), f), []byte("left behind"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	guards := 0
	again := mustOpen(t, r.Dir(), keys, Options{Guard: func() error { guards++; return nil }})
	if err := again.Refresh(); err != nil {
		t.Fatal(err)
	}
	if v := again.Versions(); v["snapshot"] != 4 || v["timestamp"] != 3 {
		t.Errorf("versions %v, want snapshot 4 and timestamp 3", v)
	}
	if guards != 4 {
		t.Errorf("Guard called %d times, want 4 (N.snapshot.json, snapshot.json, N.timestamp.json, timestamp.json)", guards)
	}
	b, _ := os.ReadFile(filepath.Join(r.Dir(), "2.snapshot.json"))
	if string(b) != "left behind" {
		t.Errorf("2.snapshot.json was replaced")
	}
	// A Guard error stops the write.
	stop := errors.New("lock lost")
	again = mustOpen(t, r.Dir(), keys, Options{Guard: func() error { return stop }})
	if err := again.RefreshTimestamp(); !errors.Is(err, stop) {
		t.Fatalf("RefreshTimestamp = %v, want the Guard's error", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), "4.timestamp.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("4.timestamp.json written past the Guard: %v", err)
	}
}

// A publication whose targets version was written with other bytes
// (another publication of that version, racing) is refused before the
// archive is moved; the same targets again (a retry) are published.
func TestPublishTargetsVersionTaken(t *testing.T) {
	srv, _, offline := onlineRepo(t)
	s, arch := signed(t, srv, offline, "1.0.0")
	taken := filepath.Join(srv.Dir(), "2.targets.json")
	if err := os.WriteFile(taken, []byte("another publication"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Publish(s.Targets, arch); !errors.Is(err, ErrRefused) || !errors.Is(err, ErrVersionTaken) {
		t.Fatalf("Publish = %v, want ErrRefused and ErrVersionTaken", err)
	}
	if _, err := os.Stat(arch); err != nil {
		t.Fatalf("the archive was moved: %v", err)
	}
	if err := os.WriteFile(taken, s.Targets, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := srv.Publish(s.Targets, arch); err != nil {
		t.Fatalf("the same targets again: %v", err)
	}
	if v := srv.Versions(); v["targets"] != 2 || v["snapshot"] != 2 {
		t.Errorf("versions %v", v)
	}
}
