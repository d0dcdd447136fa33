package jobs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// dropping is a blob store whose reads of data set archives fail after
// 200 bytes while drops is above zero (one drop per Get), as a remote
// store's connection that resets mid-download.
type dropping struct {
	*blob.FS
	drops atomic.Int32
}

var errReset = errors.New("read tcp 10.0.0.2:51234->10.0.0.9:443: read: connection reset by peer")

func (d *dropping) Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	rc, info, err := d.FS.Get(ctx, key)
	if err != nil || !strings.Contains(key, "/datasets/") || d.drops.Add(-1) < 0 {
		return rc, info, err
	}
	return &dropAfter{ReadCloser: rc, n: 200}, info, nil
}

type dropAfter struct {
	io.ReadCloser
	n int
}

func (r *dropAfter) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errReset
	}
	if len(p) > r.n {
		p = p[:r.n]
	}
	n, err := r.ReadCloser.Read(p)
	r.n -= n
	return n, err
}

// A read of the data set's archive that fails mid-way (a network error of
// a remote blob store) is not a bad archive: the job is queued again,
// not failed, and the next attempt trains it.
func TestArchiveReadErrorIsRetried(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(tinyConfig, 3)
	bs := &dropping{FS: e.blobs}
	bs.drops.Store(1)
	w := jobs.NewWorker(e.st, bs, e.options("w1", 10*time.Second))
	ran, err := w.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ran)
	j := e.get(id)
	require.NotNil(t, j.Error)
	assert.Equal(t, store.JobQueued, j.State, "error: %s", *j.Error)
	assert.Contains(t, *j.Error, "connection reset by peer")
	assert.NotContains(t, *j.Error, "invalid archive")

	ran, err = w.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ran)
	j = e.get(id)
	assert.Equal(t, store.JobSucceeded, j.State, "error: %v", j.Error)
	assert.Equal(t, 2, j.Attempts)
}
