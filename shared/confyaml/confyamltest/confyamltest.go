// Package confyamltest runs the bad-config tables of the packages built on
// shared/confyaml: each testdata/*.bad.yaml file says which errors it
// wants in "# want: ..." lines, and must fail with all of them.
//
//	func TestBadConfigs(t *testing.T) {
//		confyamltest.BadFiles(t, "testdata/*.bad.yaml", 20, func(t *testing.T, path string, data []byte) error {
//			cfg, err := Parse(filepath.Base(path), data, nil)
//			assert.Nil(t, cfg)
//			return err
//		})
//	}
//
// It is for tests only.
package confyamltest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WantLines returns the "# want: ..." lines of a bad config file, without
// the prefix. It fails t when there is none.
func WantLines(t testing.TB, data []byte) []string {
	t.Helper()
	var wants []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if w, ok := strings.CutPrefix(sc.Text(), "# want: "); ok {
			wants = append(wants, w)
		}
	}
	if len(wants) == 0 {
		t.Fatal("a .bad.yaml file says which errors it wants with '# want: ...'")
	}
	return wants
}

// BadFiles runs one subtest per file matching pattern, named by the
// file's base name; it fails t when fewer than atLeast files match. In
// each, parse is given the file's path and content and returns the error
// of parsing it (checking what else it wants); the error must not be nil
// and must contain every WantLines line.
func BadFiles(t *testing.T, pattern string, atLeast int, parse func(t *testing.T, path string, data []byte) error) {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < atLeast || len(files) == 0 {
		t.Fatalf("%d files match %s, want at least %d", len(files), pattern, max(atLeast, 1))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			wants := WantLines(t, data)
			err = parse(t, f, data)
			if err == nil {
				t.Fatalf("%s parsed without error; want %q", f, wants)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}
