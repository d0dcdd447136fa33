package tufrepo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestKeysDirDotDotName: a keys folder whose name starts with ".." is
// still inside the repository (found by a review: "..keys" passed the
// check and Init wrote the private keys into the published folder).
func TestKeysDirDotDotName(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	keys := filepath.Join(repo, "..keys")
	if _, err := Init(repo, keys, Options{}); !errors.Is(err, ErrKeys) {
		t.Fatalf("Init with keys in %s: %v, want ErrKeys", keys, err)
	}
	if ents, _ := os.ReadDir(keys); len(ents) > 0 {
		t.Fatalf("%d files written to the keys folder inside the repository", len(ents))
	}
	// A sibling whose name starts with the repository's is outside.
	if _, err := Init(repo, filepath.Join(base, "repo..keys"), Options{}); err != nil {
		t.Fatalf("Init with keys next to the repository: %v", err)
	}
}

// TestKeysDirSymlink: a keys folder reached through a symbolic link into
// the repository (or a repository reached through one around the keys)
// is inside it.
func TestKeysDirSymlink(t *testing.T) {
	base := t.TempDir()
	repo := filepath.Join(base, "repo")
	if err := os.MkdirAll(filepath.Join(repo, "private"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "keys-link")
	if err := os.Symlink(filepath.Join(repo, "private"), link); err != nil {
		t.Fatal(err)
	}
	// The keys folder is made below the link: it does not exist yet.
	if _, err := Init(repo, filepath.Join(link, "keys"), Options{}); !errors.Is(err, ErrKeys) {
		t.Fatalf("Init with keys through a link into the repository: %v, want ErrKeys", err)
	}
	// The repository named through a link, the keys by the real path.
	repoLink := filepath.Join(base, "repo-link")
	if err := os.Symlink(repo, repoLink); err != nil {
		t.Fatal(err)
	}
	if _, err := Init(repoLink, filepath.Join(repo, "k"), Options{}); !errors.Is(err, ErrKeys) {
		t.Fatalf("Init of a linked repository with keys inside its target: %v, want ErrKeys", err)
	}
}

func TestInside(t *testing.T) {
	base := t.TempDir()
	for _, c := range []struct {
		dir, base string
		want      bool
	}{
		{"/r", "/r", true},
		{"/r/k", "/r", true},
		{"/r/..k", "/r", true},
		{"/r/a/../..k", "/r", true},
		{"/r/../k", "/r", false},
		{"/rk", "/r", false},
		{"/", "/r", false},
		{"/r", "/r/k", false},
		{filepath.Join(base, "x", "y"), base, true},
		{base, filepath.Join(base, "x", "y"), false},
	} {
		got, err := Inside(c.dir, c.base)
		if err != nil || got != c.want {
			t.Errorf("Inside(%q, %q) = %v, %v; want %v", c.dir, c.base, got, err, c.want)
		}
	}
}
