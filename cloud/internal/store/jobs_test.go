package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// readyDataset makes an organisation with a ready data set.
func readyDataset(tb testing.TB, st *store.Store, slug string) (int64, *store.Dataset) {
	tb.Helper()
	ctx := context.Background()
	o, err := st.CreateOrg(ctx, slug, "Org "+slug)
	require.NoError(tb, err)
	d, err := st.CreateDataset(ctx, o.ID, store.Dataset{Dataset: fleetapi.Dataset{Name: "set-1", Kind: "sim", Source: store.SourceImport,
		RigType: "zema-testrig", ConfigDigest: "sha256:c"}, RigConfig: "x"}, 0)
	require.NoError(tb, err)
	assert.Equal(tb, store.DatasetPending, d.State)
	_, err = st.CreateJob(ctx, o.ID, d.ID, json.RawMessage(`{}`), 1, 0)
	require.ErrorIs(tb, err, store.ErrState, "a pending data set cannot be trained on")
	d, err = st.SetDatasetArchive(ctx, o.ID, d.ID, fmt.Sprintf("orgs/%d/datasets/%d/a.tar.gz", o.ID, d.ID), 10, "sha256:a")
	require.NoError(tb, err)
	_, err = st.SetDatasetArchive(ctx, o.ID, d.ID, "other", 1, "sha256:b")
	require.ErrorIs(tb, err, store.ErrState, "a data set's archive never changes")
	return o.ID, d
}

// Many workers claiming concurrently never get the same job, and every
// job is claimed once.
func TestClaimConcurrent(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "q")
	const jobs, workers = 40, 6
	for range jobs {
		_, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
		require.NoError(t, err)
	}
	var mu sync.Mutex
	got := map[int64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		name := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				c, err := st.Claim(ctx, name, "go", time.Minute)
				if !assert.NoError(t, err) || c == nil {
					return
				}
				mu.Lock()
				if prev, ok := got[c.Job.ID]; ok {
					t.Errorf("job %d claimed by %s and %s", c.Job.ID, prev, name)
				}
				got[c.Job.ID] = name
				mu.Unlock()
				assert.Equal(t, d.ID, c.Dataset.ID)
				assert.Equal(t, 1, c.Lease.Attempt)
				_, err = st.FinishJob(ctx, c.Lease, store.Artifact{Key: "k", Bytes: 1, Digest: "sha256:x"},
					fleetapi.ModelVersion{BundleName: "b", BundleVersion: "1.0.0", Config: map[string]any{}, Metrics: map[string]float64{},
						Manifest: json.RawMessage(`{}`)})
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Len(t, got, jobs)
	// Versions were numbered 1..jobs without a gap or a repeat.
	var n, maxV int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(DISTINCT version), max(version) FROM model_versions`).Scan(&n, &maxV))
	assert.Equal(t, jobs, n)
	assert.Equal(t, jobs, maxV)
}

// A worker that stops heartbeating loses its job: the next claim
// re-queues it for another worker, the first worker's writes are
// refused, and after max_attempts the job fails.
func TestLeaseExpiry(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "l")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{"epochs":1}`), 2, 0)
	require.NoError(t, err)

	c1, err := st.Claim(ctx, "crashed", "go", 300*time.Millisecond)
	require.NoError(t, err)
	require.NotNil(t, c1)
	_, err = st.Heartbeat(ctx, c1.Lease, 300*time.Millisecond, &store.Progress{Phase: "training", Epoch: 1})
	require.NoError(t, err)
	none, err := st.Claim(ctx, "other", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, none, "a held job is not claimed")

	time.Sleep(400 * time.Millisecond)
	c2, err := st.Claim(ctx, "second", "go", time.Minute)
	require.NoError(t, err)
	require.NotNil(t, c2, "the expired job is re-queued and claimed")
	assert.Equal(t, j.ID, c2.Job.ID)
	assert.Equal(t, 2, c2.Lease.Attempt)
	assert.Nil(t, c2.Job.Progress, "a new attempt starts without the old progress")

	// The first worker is fenced off.
	_, err = st.Heartbeat(ctx, c1.Lease, time.Minute, nil)
	assert.ErrorIs(t, err, store.ErrLeaseLost)
	assert.ErrorIs(t, st.AppendLogs(ctx, c1.Lease, lines(1, "late")), store.ErrLeaseLost)
	_, err = st.FailJob(ctx, c1.Lease, "x", true)
	assert.ErrorIs(t, err, store.ErrLeaseLost)
	_, err = st.FinishJob(ctx, c1.Lease, store.Artifact{Key: "k", Bytes: 1, Digest: "d"}, fleetapi.ModelVersion{Config: map[string]any{}, Metrics: map[string]float64{}, Manifest: json.RawMessage(`{}`)})
	assert.ErrorIs(t, err, store.ErrLeaseLost)
	require.NoError(t, st.AppendLogs(ctx, c2.Lease, lines(1, "a", "b")))

	// The second attempt expires too: attempts are spent, the job fails.
	_, err = pool.Exec(ctx, `UPDATE training_jobs SET lease_expires_at = now() - interval '1s' WHERE id = $1`, j.ID)
	require.NoError(t, err)
	none, err = st.Claim(ctx, "third", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, none)
	got, err := st.Job(ctx, org, j.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobFailed, got.State)
	assert.Equal(t, 2, got.Attempts)
	require.NotNil(t, got.Error)
	assert.Contains(t, *got.Error, "lease of worker second expired")
	assert.NotNil(t, got.FinishedAt)
	logs, err := st.JobLogs(ctx, org, j.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, logs, 2)
	assert.Equal(t, "a", logs[0].Line)
	assert.Equal(t, 2, logs[0].Attempt)
}

func TestCancelAndRetry(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "c")

	// Queued: cancelled at once, never claimed.
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 2, 0)
	require.NoError(t, err)
	j, err = st.CancelJob(ctx, org, j.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobCancelled, j.State)
	_, err = st.CancelJob(ctx, org, j.ID)
	assert.ErrorIs(t, err, store.ErrState)
	c, err := st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	assert.Nil(t, c)

	// Running: the heartbeat says so; the worker's end is cancelled.
	j, err = st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 2, 0)
	require.NoError(t, err)
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	j, err = st.CancelJob(ctx, org, j.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobRunning, j.State)
	cancel, err := st.Heartbeat(ctx, c.Lease, time.Minute, nil)
	require.NoError(t, err)
	assert.True(t, cancel)
	ended, err := st.FailJob(ctx, c.Lease, "cancelled", false)
	require.NoError(t, err)
	assert.Equal(t, store.JobCancelled, ended)
	j, _ = st.Job(ctx, org, j.ID)
	assert.Equal(t, store.JobCancelled, j.State)

	// Cancelled after its last heartbeat, while its bundle uploaded: the
	// worker's FinishJob is refused and registers nothing.
	j, err = st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 2, 0)
	require.NoError(t, err)
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	_, err = st.CancelJob(ctx, org, j.ID)
	require.NoError(t, err)
	_, err = st.FinishJob(ctx, c.Lease, store.Artifact{Key: "k", Bytes: 1, Digest: "d"},
		fleetapi.ModelVersion{Config: map[string]any{}, Metrics: map[string]float64{}, Manifest: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, store.ErrCancelRequested)
	ended, err = st.FailJob(ctx, c.Lease, "cancelled", false)
	require.NoError(t, err)
	assert.Equal(t, store.JobCancelled, ended)
	j, _ = st.Job(ctx, org, j.ID)
	assert.Equal(t, store.JobCancelled, j.State)
	models, err := st.Models(ctx, org, "", 0, 10)
	require.NoError(t, err)
	for _, m := range models {
		assert.NotEqual(t, j.ID, m.JobID, "a cancelled job registered a model")
	}

	// A retryable failure re-queues while attempts are left.
	j, err = st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 2, 0)
	require.NoError(t, err)
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	ended, err = st.FailJob(ctx, c.Lease, "disk full", true)
	require.NoError(t, err)
	assert.Equal(t, store.JobQueued, ended)
	j, _ = st.Job(ctx, org, j.ID)
	assert.Equal(t, store.JobQueued, j.State)
	c, err = st.Claim(ctx, "w", "go", time.Minute)
	require.NoError(t, err)
	ended, err = st.FailJob(ctx, c.Lease, "disk full again", true)
	require.NoError(t, err)
	assert.Equal(t, store.JobFailed, ended)
	j, _ = st.Job(ctx, org, j.ID)
	assert.Equal(t, store.JobFailed, j.State)
	assert.Equal(t, "disk full again", *j.Error)

	// Another organisation sees none of it.
	other := newOrg(t, st, "other", "Other")
	_, err = st.Job(ctx, other.ID, j.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.CancelJob(ctx, other.ID, j.ID)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.CreateJob(ctx, other.ID, d.ID, json.RawMessage(`{}`), 1, 0)
	assert.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.JobLogs(ctx, other.ID, j.ID, 0, 10)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestCompareVersions(t *testing.T) {
	a := &fleetapi.ModelVersion{RigType: "r", Version: 1, DatasetDigest: "x",
		Metrics: map[string]float64{"cooler.accuracy": 0.9, "val.loss": 0.5, "only.a": 1},
		Config:  map[string]any{"epochs": 10, "lr": 0.003}}
	b := &fleetapi.ModelVersion{RigType: "r", Version: 2, DatasetDigest: "x",
		Metrics: map[string]float64{"cooler.accuracy": 0.95, "val.loss": 0.4, "only.b": 2},
		Config:  map[string]any{"epochs": 20, "lr": 0.003}}
	c := store.CompareVersions(a, b)
	assert.True(t, c.SameDataset)
	require.Len(t, c.Metrics, 4)
	assert.Equal(t, "cooler.accuracy", c.Metrics[0].Metric)
	assert.InDelta(t, 0.05, *c.Metrics[0].Delta, 1e-9)
	assert.Nil(t, c.Metrics[1].B, "only.a")
	assert.Nil(t, c.Metrics[1].Delta)
	assert.InDelta(t, -0.1, *c.Metrics[3].Delta, 1e-9)
	require.Len(t, c.Config, 1)
	assert.Equal(t, "epochs", c.Config[0].Key)
}

// A claim whose data set cannot be loaded ends the attempt at once (the
// job is queued again) instead of leaving it running until its lease
// expires.
func TestClaimDatasetError(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	org, d := readyDataset(t, st, "dserr")
	j, err := st.CreateJob(ctx, org, d.ID, json.RawMessage(`{}`), 3, 0)
	require.NoError(t, err)
	// The job's organisation no longer owns the data set: loading it fails.
	other := newOrg(t, st, "dserr-other", "Other")
	_, err = pool.Exec(ctx, `UPDATE training_jobs SET org_id = $1 WHERE id = $2`, other.ID, j.ID)
	require.NoError(t, err)

	c, err := st.Claim(ctx, "w", "go", time.Hour)
	require.Error(t, err)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Nil(t, c)
	j, err = st.Job(ctx, other.ID, j.ID)
	require.NoError(t, err)
	assert.Equal(t, store.JobQueued, j.State, "the attempt ended; the job waits for the next claim")
	assert.Nil(t, j.Worker)
	require.NotNil(t, j.Error)
	assert.Contains(t, *j.Error, "data set")
	assert.Equal(t, 1, j.Attempts)
}
