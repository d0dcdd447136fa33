package server_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/server"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// rig-cloud worker sweeps the blob store (worker.blob_gc_interval): an
// old object no row names is deleted at start, a young one is kept.
func TestWorkSweepsOrphanedBlobs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, dbtest.URL(t), "", "worker:\n  blob_gc_interval: 1h\n")
	blobs, err := blob.NewFS(cfg.Blob.Dir, 0)
	require.NoError(t, err)
	ctx := context.Background()
	put := func(key string, age time.Duration) {
		_, err := blobs.Put(ctx, key, bytes.NewReader([]byte("orphan")))
		require.NoError(t, err)
		at := time.Now().Add(-age)
		require.NoError(t, os.Chtimes(filepath.Join(cfg.Blob.Dir, filepath.FromSlash(key)), at, at))
	}
	put("orgs/1/datasets/1/old.tar.gz", 30*24*time.Hour)
	put("orgs/1/datasets/1/young.tar.gz", time.Minute)

	var logs syncBuffer
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- server.Work(wctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), "test") }()
	gone := false
	for range 600 {
		if _, err := blobs.Stat(ctx, "orgs/1/datasets/1/old.tar.gz"); errors.Is(err, blob.ErrNotFound) {
			gone = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	err = <-done
	assert.True(t, err == nil || errors.Is(err, context.Canceled), "Work: %v", err)
	require.True(t, gone, "the old orphan was not swept; logs:\n%s", logs.String())
	_, err = blobs.Stat(ctx, "orgs/1/datasets/1/young.tar.gz")
	assert.NoError(t, err, "the young object was swept")
	assert.Contains(t, logs.String(), "blob sweep: deleted an orphan")
}
