package jobs_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// A cancel request for a job that trains (a real, tiny training of
// thousands of epochs) ends it within about a heartbeat: the trainer
// stops at its next step, the job ends cancelled and the worker returns.
func TestCancelStopsRealTrainingPromptly(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(longConfig(), 3)
	o := e.options("w1", 5*time.Second)
	done := runWorker(context.Background(), jobs.NewWorker(e.st, e.blobs, o))
	e.waitTrains(id)
	_, err := e.st.CancelJob(context.Background(), e.orgID, id)
	require.NoError(t, err)
	at := time.Now()
	select {
	case <-done:
	case <-time.After(o.Heartbeat + 10*time.Second):
		t.Fatalf("the worker still runs %s after the cancel request", time.Since(at).Round(time.Millisecond))
	}
	j := e.get(id)
	assert.Equal(t, store.JobCancelled, j.State)
	assert.Less(t, time.Since(at), o.Heartbeat+5*time.Second)
	// The work folder goes when the trainer returns: at once, or, when the
	// stop took longer than StopGrace on a loaded machine (1.25s here, a
	// quarter of the lease), a moment after the worker gave it up.
	require.Eventually(t, func() bool { return len(workFolders(t, o.WorkDir)) == 0 }, 10*time.Second, 20*time.Millisecond)
}

// workFolders lists the job work folders left under dir.
func workFolders(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "rig-cloud-job-*"))
	require.NoError(t, err)
	return m
}

// A trainer that ignores its context no longer holds the worker: once
// the job is cancelled, the worker waits Options.StopGrace for it, then
// ends the job cancelled, logs the trainer as abandoned and returns; the
// trainer's work folder is removed when it returns at last, and nothing
// it returns reaches the job.
func TestTrainerIgnoringCancelIsAbandoned(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(tinyConfig, 3)
	var logs syncbuf.Buffer
	o := e.options("w1", 5*time.Second)
	o.StopGrace = 300 * time.Millisecond
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	w := jobs.NewWorker(e.st, e.blobs, o)
	started, release, returned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	w.SetTrainer(func(ctx context.Context, cfg *rig.Config, data pipeline.Data, po pipeline.Options, dir string) (*pipeline.Trained, error) {
		defer close(returned)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		close(started)
		<-release // ignores ctx
		// What it writes and returns now is dropped: a "trained" result.
		_ = os.WriteFile(filepath.Join(dir, "late"), []byte("x"), 0o644)
		return &pipeline.Trained{}, nil
	})
	done := runWorker(context.Background(), w)
	e.waitStarted(started, done, id)
	_, err := e.st.CancelJob(context.Background(), e.orgID, id)
	require.NoError(t, err)
	at := time.Now()
	select {
	case <-done:
	case <-time.After(o.Heartbeat + o.StopGrace + 10*time.Second):
		close(release)
		t.Fatalf("the worker still waits for its trainer %s after the cancel request", time.Since(at).Round(time.Millisecond))
	}
	j := e.get(id)
	assert.Equal(t, store.JobCancelled, j.State, "ended by the worker: a cancel request leaves a running job running")
	assert.Contains(t, logs.String(), "trainer abandoned")
	running, total := w.Abandoned()
	assert.Equal(t, [2]int64{1, 1}, [2]int64{running, total})
	assert.Len(t, workFolders(t, o.WorkDir), 1, "the abandoned trainer's folder stays while it runs")

	close(release)
	<-returned
	require.Eventually(t, func() bool {
		running, _ := w.Abandoned()
		return running == 0 && len(workFolders(t, o.WorkDir)) == 0
	}, 10*time.Second, 10*time.Millisecond, "the trainer's work folder is removed when it returns")
	j = e.get(id)
	assert.Equal(t, store.JobCancelled, j.State, "the trainer's late result does not reach the job")
	assert.Nil(t, j.ModelVersion)
}

// stuckTrainer is a trainer that ignores its context until release is
// closed; it signals each start on started.
func stuckTrainer(started chan<- struct{}, release <-chan struct{}) func(context.Context, *rig.Config, pipeline.Data, pipeline.Options, string) (*pipeline.Trained, error) {
	return func(context.Context, *rig.Config, pipeline.Data, pipeline.Options, string) (*pipeline.Trained, error) {
		started <- struct{}{}
		<-release
		return &pipeline.Trained{}, nil
	}
}

// SIGTERM (the worker's context ends) with a trainer that ignores it: the
// worker re-queues the job after Options.StopGrace and returns. With
// MaxAbandoned trainers still running it claims no further job (logged
// once) until one returns.
func TestStuckTrainersShutdownAndClaimLimit(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	var logs syncbuf.Buffer
	o := e.options("w1", 5*time.Second)
	o.StopGrace = 200 * time.Millisecond
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	w := jobs.NewWorker(e.st, e.blobs, o)
	started, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	w.SetTrainer(stuckTrainer(started, release))
	for i := range jobs.MaxAbandoned {
		id := e.job(tinyConfig, 3)
		ctx, cancel := context.WithCancel(context.Background())
		done := runWorker(ctx, w)
		e.waitStarted(started, done, id)
		cancel()
		waitDone(t, done, "the worker waits for a trainer that ignores the shutdown")
		j := e.get(id)
		assert.Equal(t, store.JobQueued, j.State, "job %d", i)
		require.NotNil(t, j.Error)
		assert.Contains(t, *j.Error, "shutdown")
		_, err := e.st.CancelJob(context.Background(), e.orgID, id) // not claimed again below
		require.NoError(t, err)
	}
	running, total := w.Abandoned()
	assert.Equal(t, [2]int64{jobs.MaxAbandoned, jobs.MaxAbandoned}, [2]int64{running, total})
	id := e.job(tinyConfig, 3)
	for range 2 {
		ran, err := w.RunOnce(context.Background())
		require.NoError(t, err)
		assert.False(t, ran, "a job claimed while MaxAbandoned trainers run")
	}
	assert.Equal(t, store.JobQueued, e.get(id).State)
	assert.Equal(t, 1, strings.Count(logs.String(), "no job is claimed until one returns"))

	// Once they return, the worker claims again.
	releaseOnce.Do(func() { close(release) })
	require.Eventually(t, func() bool { n, _ := w.Abandoned(); return n == 0 }, 10*time.Second, 10*time.Millisecond)
	w.SetTrainer(func(ctx context.Context, _ *rig.Config, _ pipeline.Data, _ pipeline.Options, _ string) (*pipeline.Trained, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	})
	done := runWorker(context.Background(), w)
	e.waitStarted(started, done, id)
	_, err := e.st.CancelJob(context.Background(), e.orgID, id)
	require.NoError(t, err)
	waitDone(t, done, "the worker did not end the cancelled job")
	assert.Equal(t, store.JobCancelled, e.get(id).State)
	assert.Empty(t, workFolders(t, o.WorkDir))
}

// worker.max_job_duration passing while the trainer ignores its context:
// the job fails with the limit's error StopGrace later, as for a trainer
// that stops.
func TestStuckTrainerPastMaxJobDuration(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(tinyConfig, 3)
	o := e.options("w1", 5*time.Second)
	// The limit passes once the trainer runs (pass), not after a time
	// long enough for the data set's download on a loaded machine.
	o.MaxJobDuration, o.StopGrace = time.Hour, 200*time.Millisecond
	w := jobs.NewWorker(e.st, e.blobs, o)
	pass := make(chan struct{})
	w.SetMaxJobDurationTrigger(pass)
	started, release := make(chan struct{}, 1), make(chan struct{})
	defer close(release)
	w.SetTrainer(stuckTrainer(started, release))
	done := runWorker(context.Background(), w)
	e.waitStarted(started, done, id)
	close(pass)
	waitDone(t, done, "the worker waits for a trainer past max_job_duration")
	j := e.get(id)
	assert.Equal(t, store.JobFailed, j.State)
	require.NotNil(t, j.Error)
	assert.Equal(t, "exceeded worker.max_job_duration 1h0m0s", *j.Error)
}

// waitStarted waits (up to 30s) until the trainer of job id has started;
// a worker that ends the job before its trainer runs (done) fails the
// test with the job's state and error instead of blocking it.
func (e *queueEnv) waitStarted(started <-chan struct{}, done <-chan struct{}, id int64) {
	e.t.Helper()
	select {
	case <-started:
	case <-done:
		j := e.get(id)
		e.t.Fatalf("job %d ended (%s, error %q) before its trainer started", id, j.State, deref(j.Error))
	case <-time.After(30 * time.Second):
		e.t.Fatalf("job %d: the trainer did not start in 30s", id)
	}
}
