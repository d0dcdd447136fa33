package tufrepo

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// wantModeRefusal checks that err is ErrKeys naming path, its mode and
// the fix.
func wantModeRefusal(t *testing.T, err error, what, path, mode, fix string) {
	t.Helper()
	if !errors.Is(err, ErrKeys) {
		t.Fatalf("%s: %v, want ErrKeys", what, err)
	}
	for _, s := range []string{path, "mode " + mode, fix} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: %q does not say %q", what, err, s)
		}
	}
}

// Init refuses an existing keys folder that group or others may access
// rather than writing keys into it (or chmod'ing what its owner chose);
// a private one is used. Found by review r4 ("Key handling").
func TestInitRefusesSharedKeysDir(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	base := t.TempDir()
	keys := filepath.Join(base, "keys")
	if err := os.Mkdir(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o750); err != nil {
		t.Fatal(err)
	}
	_, err := Init(filepath.Join(base, "repo"), keys, Options{})
	wantModeRefusal(t, err, "Init into a 0750 folder", keys, "0750", "chmod 700 "+keys)
	if pems, _ := filepath.Glob(filepath.Join(keys, "*.pem")); len(pems) > 0 {
		t.Errorf("keys written into the shared folder: %v", pems)
	}
	if fi, err := os.Stat(keys); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("the folder's mode changed: %v %v", fi.Mode(), err)
	}
	if err := os.Chmod(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(filepath.Join(base, "repo"), keys, Options{}); err != nil {
		t.Fatalf("Init into a private empty folder: %v", err)
	}
	// A folder Init makes is private whatever the umask.
	made := filepath.Join(base, "made", "keys")
	if _, err := Init(filepath.Join(base, "repo2"), made, Options{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(made); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("made keys folder: %v %v, want 0700", fi.Mode(), err)
	}
}

// With StrictKeyModes (rigctl), Open, SignRelease and ResignTargets
// refuse a key file that group or others may read, as ssh does, and a
// keys folder they may access; without it (rig-cloud, whose keys come
// from secret mounts) both are read.
func TestStrictKeyModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	r, keys := newRepo(t, Options{})
	strict := Options{StrictKeyModes: true}
	mustOpen(t, r.Dir(), keys, strict)
	pems, _ := filepath.Glob(filepath.Join(keys, "targets-*.pem"))
	if len(pems) != 1 {
		t.Fatalf("targets keys: %v", pems)
	}
	key := pems[0]
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(r.Dir(), keys, strict)
	wantModeRefusal(t, err, "Open with a 0644 key", key, "0644", "chmod 600 "+key)
	_, err = ResignTargets(r.root, r.targets, keys, strict)
	wantModeRefusal(t, err, "ResignTargets with a 0644 key", key, "0644", "chmod 600 "+key)
	f, err := os.CreateTemp(t.TempDir(), "archive-*")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = SignRelease(r.root, r.targets, keys, testBundle(t, "1.0.0"), nil, f, strict)
	wantModeRefusal(t, err, "SignRelease with a 0644 key", key, "0644", "chmod 600 "+key)
	if _, err := ResignTargets(r.root, r.targets, keys, Options{}); err != nil {
		t.Errorf("ResignTargets, not strict: %v", err)
	}
	mustOpen(t, r.Dir(), keys, Options{})

	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keys, 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = Open(r.Dir(), keys, strict)
	wantModeRefusal(t, err, "Open with a 0755 folder", keys, "0755", "chmod 700 "+keys)
	mustOpen(t, r.Dir(), keys, Options{})
	if err := os.Chmod(keys, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := ResignTargets(r.root, r.targets, keys, strict); err != nil {
		t.Errorf("ResignTargets, private again: %v", err)
	}
}
