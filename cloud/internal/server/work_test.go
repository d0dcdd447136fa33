package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/server"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// rig-cloud worker sweeps the blob store (worker.blob_gc_interval): an
// old object no row names is deleted at start, a young one is kept. With
// worker.metrics_listen the sweep's counters are scraped at /metrics, and
// /health/live answers there.
func TestWorkSweepsOrphanedBlobs(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, dbtest.URL(t), "", "worker:\n  blob_gc_interval: 1h\n  metrics_listen: 127.0.0.1:0\n")
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

	var logs syncbuf.Buffer
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
	var metrics string
	if gone {
		m := regexp.MustCompile(`msg="worker metrics listening" addr=(\S+)`).FindStringSubmatch(logs.String())
		require.NotNil(t, m, "no metrics listener logged; logs:\n%s", logs.String())
		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + m[1] + path)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, string(b)
		}
		code, body := get("/health/live")
		assert.Equal(t, http.StatusOK, code, body)
		// The object goes before the sweep counts it and ends: scrape
		// until the sweep is counted done.
		for range 100 {
			code, metrics = get("/metrics")
			require.Equal(t, http.StatusOK, code, metrics)
			if strings.Contains(metrics, `rig_cloud_blob_gc_sweeps_total{result="done"}`) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	cancel()
	err = <-done
	assert.True(t, err == nil || errors.Is(err, context.Canceled), "Work: %v", err)
	require.True(t, gone, "the old orphan was not swept; logs:\n%s", logs.String())
	assert.Contains(t, metrics, "rig_cloud_blob_gc_deleted_total 1\n")
	assert.Contains(t, metrics, `rig_cloud_blob_gc_sweeps_total{result="done"} 1`)
	assert.Contains(t, metrics, "go_goroutines ")
	assert.Contains(t, metrics, "rig_cloud_worker_abandoned_trainers 0\n")
	assert.Contains(t, metrics, "rig_cloud_worker_abandoned_trainers_total 0\n")
	_, err = blobs.Stat(ctx, "orgs/1/datasets/1/young.tar.gz")
	assert.NoError(t, err, "the young object was swept")
	assert.Contains(t, logs.String(), "blob sweep: deleted an orphan")
}

// rig-cloud worker with database.migrate: false on a schema that lacks
// one of its migrations (18, before the log lines' numbers its appends
// write) claims no job, as serve is not ready: it says which migrations
// are pending and waits; once `rig-cloud migrate` has applied them it
// starts claiming.
func TestWorkWaitsForPendingMigrations(t *testing.T) {
	t.Parallel()
	pool, u := dbtest.MigratedTo(t, 18)
	cfg := testConfig(t, u, "", "database:\n  migrate: false\nworker:\n  poll_interval: 100ms\n")
	var logs syncbuf.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- server.Work(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), "test") }()
	waitLog := func(msg string) {
		t.Helper()
		for range 300 {
			if strings.Contains(logs.String(), msg) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no %q logged; logs:\n%s", msg, logs.String())
	}
	waitLog(`msg="migrations pending and database.migrate is false`)
	assert.Contains(t, logs.String(), `pending="[19 `)
	time.Sleep(500 * time.Millisecond) // a few looks
	assert.NotContains(t, logs.String(), `msg="worker started"`, "it claims on an old schema")

	_, err := db.Migrate(context.Background(), pool, nil)
	require.NoError(t, err)
	waitLog(`msg="worker started"`)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Work did not return after its context ended")
	}
}
