package blob_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/blob/blobtest"
)

func TestFS(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir, 1024)
	if err != nil {
		t.Fatal(err)
	}
	blobtest.Run(t, s, 1024, "orgs/1")
	// No temporary file is left behind.
	left, _ := os.ReadDir(filepath.Join(dir, ".tmp"))
	if len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
}
