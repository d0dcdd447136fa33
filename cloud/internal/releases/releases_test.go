package releases

import (
	"path/filepath"
	"testing"
)

// The names clients may fetch, and those that could leave the folder or
// reach staging and temporary files.
func TestFileNames(t *testing.T) {
	s := &Service{opt: Options{RepoDir: "/srv/tuf"}}
	const sum = "0e4c6f1ad0c25aa7d0fbd1fb3a4b5f6e7d8c9b0a1f2e3d4c5b6a7980e1f2a3b4"
	for _, tc := range []struct {
		name      string
		ok        bool
		immutable bool
	}{
		{"timestamp.json", true, false},
		{"1.root.json", true, true},
		{"12.snapshot.json", true, true},
		{"7.targets.json", true, true},
		{"root.json", false, false},
		{"targets.json", false, false},
		{"0.root.json", false, false},
		{"01.root.json", false, false},
		{"1.timestamp.json", false, false},
		{"1.root.json.tmp", false, false},
		{".tmp-123", false, false},
		{"../keys/x.pem", false, false},
	} {
		f, ok := s.Metadata(tc.name)
		if ok != tc.ok || f.Immutable != tc.immutable {
			t.Errorf("Metadata(%q) = %+v, %v; want ok %v immutable %v", tc.name, f, ok, tc.ok, tc.immutable)
		}
		if ok && f.Path != filepath.Join("/srv/tuf", tc.name) {
			t.Errorf("Metadata(%q).Path = %s", tc.name, f.Path)
		}
	}
	for _, tc := range []struct {
		path, etag string
		ok         bool
	}{
		{"zema-testrig/" + sum + ".zema-testrig-1.0.0.tar.gz", sum, true},
		{"a/b/c.tar.gz", "", true},
		{"", "", false},
		{"..", "", false},
		{"../1.root.json", "", false},
		{"zema/../../x", "", false},
		{"zema//x.tar.gz", "", false},
		{"zema/", "", false},
		{"/etc/passwd", "", false},
		{".incoming/archive-1", "", false},
		{"zema/.release-1", "", false},
		{"zema/x y.tar.gz", "", false},
		{"zema\\..\\x", "", false},
		{"a/b/c/d/e/f/g/h/i", "", false},
	} {
		f, ok := s.Target(tc.path)
		if ok != tc.ok || f.ETag != tc.etag {
			t.Errorf("Target(%q) = %+v, %v; want ok %v etag %q", tc.path, f, ok, tc.ok, tc.etag)
		}
		if ok && (!f.Immutable || f.Path != filepath.Join("/srv/tuf/targets", filepath.FromSlash(tc.path))) {
			t.Errorf("Target(%q) = %+v", tc.path, f)
		}
	}
}
