package jobs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// The data set's archive is extracted through the attempt's context: a
// cancelled attempt stops at the archive's next read with ctx's error
// (not a permanent data error), instead of extracting all of it.
func TestDownloadStopsOnCancel(t *testing.T) {
	blobs, err := blob.NewFS(t.TempDir(), 64<<20)
	require.NoError(t, err)
	src := t.TempDir()
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(src, n), bytes.Repeat([]byte(n), 50_000), 0o644))
	}
	var buf bytes.Buffer
	require.NoError(t, tarball.Write(&buf, src))
	_, err = blobs.Put(context.Background(), "orgs/1/datasets/1/a.tar.gz", &buf)
	require.NoError(t, err)
	j := &running{w: NewWorker(nil, blobs, Options{WorkDir: t.TempDir()}), logs: &lineWriter{max: 100}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "data")
	err = j.download(ctx, "orgs/1/datasets/1/a.tar.gz", dir)
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.As(err, new(permanent)), "a cancel is not a data error: %v", err)
	_, err = os.Stat(filepath.Join(dir, "c.txt"))
	assert.ErrorIs(t, err, os.ErrNotExist, "extracted after the cancel")

	require.NoError(t, j.download(context.Background(), "orgs/1/datasets/1/a.tar.gz", dir))
	assert.FileExists(t, filepath.Join(dir, "c.txt"))
}
