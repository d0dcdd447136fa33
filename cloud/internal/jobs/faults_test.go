package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/blob/blobtest"
	"github.com/hydrognn/hydrognn/cloud/internal/jobs"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/syncbuf"
)

// A job config that passes Validate but cannot build a model (hidden not
// a multiple of heads, a patch that does not divide the window, a grid so
// coarse the window has no step) fails at its first attempt with the
// trainer's reason: every further attempt would fail the same way.
func TestBadModelConfigFailsAtOnce(t *testing.T) {
	t.Parallel()
	bad := map[string]func(*jobs.Config){
		"heads":   func(c *jobs.Config) { c.Sizes.Heads = 3 },
		"patch":   func(c *jobs.Config) { c.Sizes.Patch = 7 },
		"grid_hz": func(c *jobs.Config) { c.GridHz = 0.001 },
	}
	for name, f := range bad {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newQueueEnv(t)
			cfg := tinyConfig
			f(&cfg)
			require.NoError(t, cfg.Validate())
			id := e.job(cfg, 3)
			w := jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second))
			ran, err := w.RunOnce(context.Background())
			require.NoError(t, err)
			require.True(t, ran)
			j := e.get(id)
			require.NotNil(t, j.Error)
			assert.Equal(t, store.JobFailed, j.State, "error: %s", *j.Error)
			assert.Equal(t, 1, j.Attempts)
			assert.Contains(t, *j.Error, "invalid")
		})
	}
}

// partitioned is the store seen from a worker cut off from the database
// once cut is set: its heartbeats fail (a timeout, not a lost lease: the
// worker cannot learn that another worker took the job).
type partitioned struct {
	*store.Store
	cut atomic.Bool
}

var errUnreachable = errors.New("dial tcp: connect: connection timed out")

func (p *partitioned) Heartbeat(ctx context.Context, l store.Lease, lease time.Duration, pr *store.Progress) (bool, error) {
	if p.cut.Load() {
		return false, errUnreachable
	}
	return p.Store.Heartbeat(ctx, l, lease, pr)
}

func (p *partitioned) AppendLogs(ctx context.Context, l store.Lease, lines []store.NumberedLine) error {
	if p.cut.Load() {
		return errUnreachable
	}
	return p.Store.AppendLogs(ctx, l, lines)
}

// A worker that cannot renew its lease stops the job's work once the
// lease has run out, by its own clock: past that moment another worker
// may claim the job, and two workers would train it at once (the first
// one for as long as its training lasts).
func TestWorkerStopsWhenItsLeaseRunsOut(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(longConfig(), 3)
	q := &partitioned{Store: e.st}
	lease := time.Second
	o := e.options("w1", lease)
	o.Heartbeat = lease / 4 // each heartbeat may take 250 ms on a loaded machine
	w1 := jobs.NewWorker(q, e.blobs, o)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := runWorker(ctx, w1)
	e.waitTrains(id)
	q.cut.Store(true)
	cutAt := time.Now()
	select {
	case <-done:
	case <-time.After(lease + 5*time.Second):
		t.Fatalf("w1 still trains %s after it lost the database (lease %s)", time.Since(cutAt).Round(time.Millisecond), lease)
	}
	counts, observed := attemptMetrics(t, w1)
	assert.Equal(t, map[string]float64{"train/lease_lost": 1}, counts, "w1's attempt counts as lease_lost")
	assert.Equal(t, map[string]float64{"train/lease_lost": 1}, observed)
	// The job is the next claim's once the lease expired at the database.
	require.Eventually(t, func() bool {
		c, err := e.st.Claim(context.Background(), "probe", "go", time.Minute)
		require.NoError(t, err)
		if c == nil {
			return false
		}
		_, err = e.st.FailJob(context.Background(), c.Lease, "probe", true)
		require.NoError(t, err)
		return true
	}, 2*lease, 50*time.Millisecond)
	j := e.get(id)
	assert.Equal(t, store.JobQueued, j.State)
	assert.Equal(t, 2, j.Attempts)
}

// SIGTERM (the worker's context ends) while a job trains stops it and
// queues it again; SIGTERM once its bundle is written (uploading,
// registering) no longer throws the trained model away: the upload and
// the registration finish, the job succeeds, and the worker stops.
func TestShutdownKeepsATrainedBundle(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)

	// Stopped while it trains: queued again, the attempt counted.
	id := e.job(longConfig(), 3)
	ctx, cancel := context.WithCancel(context.Background())
	done := runWorker(ctx, jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second)))
	e.waitTrains(id)
	cancel()
	waitDone(t, done, "the worker did not stop")
	j := e.get(id)
	assert.Equal(t, store.JobQueued, j.State)
	assert.Equal(t, 1, j.Attempts)
	require.NotNil(t, j.Error)
	assert.Contains(t, *j.Error, "shutdown")
	_, err := e.st.CancelJob(context.Background(), e.orgID, id)
	require.NoError(t, err)

	// Stopped while its bundle is stored: it succeeds all the same.
	id = e.job(tinyConfig, 3)
	hp := blobtest.NewHeldPut(e.blobs, "/jobs/")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done = runWorker(ctx, jobs.NewWorker(e.st, hp, e.options("w2", 10*time.Second)))
	select {
	case <-hp.Putting:
	case <-time.After(60 * time.Second):
		t.Fatal("the job never stored its bundle")
	}
	cancel()
	time.Sleep(100 * time.Millisecond) // the shutdown reaches the worker first
	close(hp.Release)
	waitDone(t, done, "the worker did not stop")
	j = e.get(id)
	assert.Equal(t, store.JobSucceeded, j.State, "error: %s", deref(j.Error))
	assert.Equal(t, 1, j.Attempts)
	require.NotNil(t, j.ModelVersion)
	m, err := e.st.Model(context.Background(), e.orgID, "zema-testrig", *j.ModelVersion)
	require.NoError(t, err)
	rc, info, err := e.blobs.Get(context.Background(), m.ArtifactKey)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, m.Artifact.Bytes, info.Size, "the registered bundle is the stored one")
}

// longConfig is tinyConfig with epochs enough to still train when a test
// stops, cuts off or times out its worker.
func longConfig() jobs.Config {
	c := tinyConfig
	c.Epochs = 5000
	return c
}

// runWorker runs one w.RunOnce(ctx) in its own goroutine; the channel it
// returns is closed when RunOnce returns.
func runWorker(ctx context.Context, w *jobs.Worker) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = w.RunOnce(ctx)
	}()
	return done
}

// waitTrains waits (up to a minute) until job id has trained an epoch.
func (e *queueEnv) waitTrains(id int64) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		p := e.get(id).Progress
		return p != nil && p.Epoch >= 1
	}, 60*time.Second, 20*time.Millisecond, "the worker trains")
}

// waitDone fails the test with msg unless done is closed within 30 s.
func waitDone(t *testing.T, done <-chan struct{}, msg string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal(msg)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SIGTERM while the last attempt trains ends the job failed (the attempt
// counts), and its error says what happened without claiming that the job
// was queued again.
func TestShutdownOnLastAttempt(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(longConfig(), 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runWorker(ctx, jobs.NewWorker(e.st, e.blobs, e.options("w1", 10*time.Second)))
	e.waitTrains(id)
	cancel()
	waitDone(t, done, "the worker did not stop")
	j := e.get(id)
	assert.Equal(t, store.JobFailed, j.State)
	require.NotNil(t, j.Error)
	assert.Contains(t, *j.Error, "shutdown")
	assert.NotContains(t, *j.Error, "re-queued", "the job was not queued again")
}

// slowAnswer is the store seen by a worker whose FinishJob commits but
// whose answer comes back late: only once a heartbeat of the worker's
// found the job no longer running (the commit ended it), as a lease
// running out by the worker's clock during the commit would, and one
// heartbeat interval (settle) after that, so that the worker has
// cancelled the attempt with the lost lease before the answer comes.
type slowAnswer struct {
	*store.Store
	settle time.Duration
	beat   chan struct{} // closed by the first heartbeat that found the job gone
	once   sync.Once
}

func newSlowAnswer(st *store.Store, settle time.Duration) *slowAnswer {
	return &slowAnswer{Store: st, settle: settle, beat: make(chan struct{})}
}

// Heartbeat closes beat when the job is no longer running. Only the
// commit ends it: a heartbeat sent during the commit waits on the job's
// row and then finds it gone.
func (s *slowAnswer) Heartbeat(ctx context.Context, l store.Lease, lease time.Duration, pr *store.Progress) (bool, error) {
	stop, err := s.Store.Heartbeat(ctx, l, lease, pr)
	if errors.Is(err, store.ErrLeaseLost) {
		s.once.Do(func() { close(s.beat) })
	}
	return stop, err
}

func (s *slowAnswer) FinishJob(ctx context.Context, l store.Lease, art store.Artifact, m fleetapi.ModelVersion) (*store.ModelVersion, error) {
	mv, err := s.Store.FinishJob(ctx, l, art, m)
	select {
	case <-s.beat:
		time.Sleep(s.settle) // keepAlive cancels with errLeaseLost after the heartbeat returns
	case <-time.After(30 * time.Second): // the test's assertions tell what happened
	}
	return mv, err
}

// A job whose end committed is logged as succeeded, not as a lost lease,
// even when its heartbeat or local lease ended during the commit.
func TestSucceededJobNotLoggedLeaseLost(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(tinyConfig, 3)
	var logs syncbuf.Buffer
	lease := 3 * time.Second
	o := e.options("w1", lease)
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	q := newSlowAnswer(e.st, o.Heartbeat)
	w := jobs.NewWorker(q, e.blobs, o)
	ran, err := w.RunOnce(context.Background())
	require.NoError(t, err)
	require.True(t, ran)
	select {
	case <-q.beat:
	default:
		t.Fatal("no heartbeat ran while FinishJob's answer was late")
	}
	j := e.get(id)
	require.Equal(t, store.JobSucceeded, j.State, "error: %s", deref(j.Error))
	assert.Contains(t, logs.String(), "job succeeded")
	assert.Contains(t, logs.String(), "lease_ended_during_commit=true",
		"the attempt's lease ended during the commit (the case this test is for)")
	assert.NotContains(t, logs.String(), "lease lost", "the job succeeded")
}

// A job whose attempt runs past Options.MaxJobDuration while its
// heartbeats still renew the lease is stopped and fails at once (not
// re-queued: it would take as long again), its error naming the key and
// the limit; the worker is free again.
func TestMaxJobDuration(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(longConfig(), 3)
	o := e.options("w1", 10*time.Second)
	o.MaxJobDuration = time.Second
	start := time.Now()
	done := runWorker(context.Background(), jobs.NewWorker(e.st, e.blobs, o))
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the job still runs %s after it started (max_job_duration %s)", time.Since(start).Round(time.Second), o.MaxJobDuration)
	}
	j := e.get(id)
	assert.Equal(t, store.JobFailed, j.State)
	assert.Equal(t, 1, j.Attempts)
	require.NotNil(t, j.Error)
	assert.Equal(t, "exceeded worker.max_job_duration 1s", *j.Error)
}

// worker.max_job_duration passing while a job's trained bundle is stored
// (the upload, FinishJob) no longer fails the finished job: once its
// result is written the attempt gets jobs.FinishGrace, as at a shutdown,
// and the job succeeds.
func TestMaxJobDurationSparesTheFinish(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(tinyConfig, 3)
	hp := blobtest.NewHeldPut(e.blobs, "/jobs/")
	var logs syncbuf.Buffer
	o := e.options("w1", 10*time.Second)
	o.MaxJobDuration = time.Hour // passes when the test says (pass)
	o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	w := jobs.NewWorker(e.st, hp, o)
	pass := make(chan struct{})
	w.SetMaxJobDurationTrigger(pass)
	done := runWorker(context.Background(), w)
	select {
	case <-hp.Putting:
	case <-time.After(60 * time.Second):
		close(hp.Release)
		waitDone(t, done, "the job never stored its bundle, and its worker did not stop within 30 s after")
		t.Fatal("the job never stored its bundle")
	}
	close(pass) // the limit passes while the bundle is stored
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "it gets the grace") },
		10*time.Second, 10*time.Millisecond, "the worker did not see the limit pass")
	close(hp.Release)
	waitDone(t, done, "the worker did not end the job")
	j := e.get(id)
	assert.Equal(t, store.JobSucceeded, j.State, "error: %s", deref(j.Error))
	assert.Equal(t, 1, j.Attempts)
	assert.NotNil(t, j.ModelVersion)
}

// logsFailOnce is the store seen from a worker whose first log append
// fails (a statement timeout under load, a dropped connection).
type logsFailOnce struct {
	*store.Store
	calls atomic.Int32
}

func (p *logsFailOnce) AppendLogs(ctx context.Context, l store.Lease, lines []store.NumberedLine) error {
	if p.calls.Add(1) == 1 {
		return errUnreachable
	}
	return p.Store.AppendLogs(ctx, l, lines)
}

// Log lines a heartbeat could not store are stored by a later one, in
// order: before, they were dropped (CI saw a job log without its "phase:
// uploading" line when the database was slow).
func TestFailedLogAppendLosesNoLines(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	q := &logsFailOnce{Store: e.st}
	e.checkPhasesLogged(e.runLogging(q, &q.calls))
}

// logsAnswerLostOnce is the store seen from a worker the answer of whose
// first log append is lost after the database took the lines (a
// connection dropped after the commit, a timeout as it commits).
type logsAnswerLostOnce struct {
	*store.Store
	calls atomic.Int32
}

func (p *logsAnswerLostOnce) AppendLogs(ctx context.Context, l store.Lease, lines []store.NumberedLine) error {
	if err := p.Store.AppendLogs(ctx, l, lines); err != nil || p.calls.Add(1) > 1 {
		return err
	}
	return errUnreachable
}

// A log append the database took but whose answer was lost is sent again
// and stores nothing more: each line once, numbered 1, 2, ... in order
// (before, lines were stored at least once: the batch twice).
func TestLostLogAppendAnswerStoresLinesOnce(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	q := &logsAnswerLostOnce{Store: e.st}
	lines := e.runLogging(q, &q.calls)
	for i, l := range lines {
		assert.Equal(t, i+1, l.Number, "line %d: %q", i, l.Line)
		assert.Equal(t, 1, l.Attempt)
		if i > 0 {
			assert.Greater(t, l.Seq, lines[i-1].Seq)
		}
	}
	e.checkPhasesLogged(lines)
}

// runLogging runs a tinyConfig job on a worker of q (e's store with log
// appends that fail, counted in appends) heartbeating every 50 ms, checks
// that it succeeded after more than one log append, and returns its log.
func (e *queueEnv) runLogging(q jobs.Queue, appends *atomic.Int32) []store.LogLine {
	e.t.Helper()
	id := e.job(tinyConfig, 1)
	o := e.options("w1", time.Minute)
	o.Heartbeat = 50 * time.Millisecond
	ran, err := jobs.NewWorker(q, e.blobs, o).RunOnce(context.Background())
	require.NoError(e.t, err)
	require.True(e.t, ran)
	j := e.get(id)
	require.Equal(e.t, store.JobSucceeded, j.State, "error: %s", deref(j.Error))
	require.Greater(e.t, appends.Load(), int32(1), "the job ended before a second log append")
	lines, err := e.st.JobLogs(context.Background(), e.orgID, id, 0, 1000)
	require.NoError(e.t, err)
	return lines
}

// checkPhasesLogged checks that a job's log names each of its phases
// once, in order.
func (e *queueEnv) checkPhasesLogged(lines []store.LogLine) {
	e.t.Helper()
	var phases, all []string
	for _, l := range lines {
		all = append(all, l.Line)
		if p, ok := strings.CutPrefix(l.Line, "phase: "); ok {
			phases = append(phases, p)
		}
	}
	assert.Equal(e.t, []string{"downloading", "training", "uploading", "registering"}, phases, "log:\n%s", strings.Join(all, "\n"))
}

// logsDown is the store seen from a worker whose log appends all fail
// while its heartbeats go through (a log table it cannot write to).
type logsDown struct{ *store.Store }

func (logsDown) AppendLogs(context.Context, store.Lease, []store.NumberedLine) error {
	return errUnreachable
}

// Failing log appends do not make a renewed lease look lost: the worker
// keeps the job for as long as its heartbeats go through (before, a
// heartbeat whose append failed counted as failed, and the job stopped
// once the lease ran out by the worker's clock).
func TestFailingLogAppendsKeepTheLease(t *testing.T) {
	t.Parallel()
	e := newQueueEnv(t)
	id := e.job(longConfig(), 3)
	lease := time.Second
	o := e.options("w1", lease)
	o.Heartbeat = lease / 5 // each heartbeat may take 200 ms on a loaded machine
	w := jobs.NewWorker(logsDown{e.st}, e.blobs, o)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := runWorker(ctx, w)
	e.waitTrains(id)
	select {
	case <-done:
		j := e.get(id)
		t.Fatalf("the worker stopped the job while its heartbeats renewed the lease: state %s, error %s", j.State, deref(j.Error))
	case <-time.After(3 * lease):
	}
	j := e.get(id)
	assert.Equal(t, store.JobRunning, j.State)
	assert.Equal(t, 1, j.Attempts)
	cancel()
	<-done
}
