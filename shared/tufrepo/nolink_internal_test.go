package tufrepo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// On a file system without hard links (SMB/CIFS, s3fs: link fails), the
// versioned files are created in place with O_EXCL under the same rule:
// a free name is written, the same bytes again are kept, other bytes are
// ErrVersionTaken and leave the file as it was. With links, every
// snapshot and timestamp write failed there.
func TestWriteOnceWithoutHardLinks(t *testing.T) {
	dir := t.TempDir()
	withoutLinks(t, dir)

	r := &Repo{}
	name := filepath.Join(dir, "2.snapshot.json")
	if err := r.writeFile(name, []byte("first"), true); err != nil {
		t.Fatalf("write without hard links: %v", err)
	}
	if linksWork(dir) {
		t.Fatal("the probe found hard links where link fails")
	}
	if err := r.writeFile(name, []byte("first"), true); err != nil {
		t.Fatalf("the same bytes again: %v", err)
	}
	if err := r.writeFile(name, []byte("other"), true); !errors.Is(err, ErrVersionTaken) {
		t.Fatalf("other bytes: %v, want ErrVersionTaken", err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "first" {
		t.Fatalf("the file holds %q (%v), want the first write", b, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Fatalf("temporary or probe files left: %v", left)
	}
}
