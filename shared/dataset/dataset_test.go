package dataset_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

func TestDirEnv(t *testing.T) {
	d := t.TempDir()
	t.Setenv(dataset.EnvDir, d)
	got, err := dataset.Dir()
	if err != nil || got != d {
		t.Errorf("Dir() = %q, %v; want %q", got, err, d)
	}
	t.Setenv(dataset.EnvDir, filepath.Join(d, "missing"))
	if _, err := dataset.Dir(); !errors.Is(err, dataset.ErrNoData) {
		t.Errorf("missing folder: %v", err)
	}
}

func TestDirBesideRepo(t *testing.T) {
	t.Setenv(dataset.EnvDir, "")
	root := t.TempDir()
	repo := filepath.Join(root, "main")
	pkg := filepath.Join(repo, "shared", "dataset")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "go.work"), []byte("go 1.26\n"), 0o644)
	t.Chdir(pkg)
	if _, err := dataset.Dir(); !errors.Is(err, dataset.ErrNoData) {
		t.Errorf("no data beside the repo: %v", err)
	}
	data := filepath.Join(root, "shared", "data")
	os.MkdirAll(data, 0o755)
	got, err := dataset.Dir()
	if err != nil || got != data {
		t.Errorf("Dir() = %q, %v; want %q", got, err, data)
	}
}
