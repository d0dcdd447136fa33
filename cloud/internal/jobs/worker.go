package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/pipeline"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/ctxio"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// Queue is what a worker needs of the store (*store.Store).
type Queue interface {
	Claim(ctx context.Context, worker, backend string, lease time.Duration) (*store.Claim, error)
	Heartbeat(ctx context.Context, l store.Lease, lease time.Duration, p *store.Progress) (bool, error)
	AppendLogs(ctx context.Context, l store.Lease, lines []store.NumberedLine) error
	FailJob(ctx context.Context, l store.Lease, msg string, retry bool) (state string, err error)
	FinishJob(ctx context.Context, l store.Lease, art store.Artifact, m fleetapi.ModelVersion) (*store.ModelVersion, error)
	// Builds of data sets from fleet uploads (store.KindBuildDataset).
	RigReadings(ctx context.Context, orgID int64, rigName string, from, to time.Time, fn func(reading.Reading) error) error
	HeartbeatBuild(ctx context.Context, l store.Lease, lease time.Duration, b *fleetapi.DatasetBuild) (cancel bool, err error)
	FinishBuild(ctx context.Context, l store.Lease, key string, bytes int64, digest string, b fleetapi.DatasetBuild) (*store.Dataset, error)
}

// Blobs is what a worker needs of the blob store.
type Blobs interface {
	Get(ctx context.Context, key string) (io.ReadCloser, blob.Info, error)
	Put(ctx context.Context, key string, r io.Reader) (blob.Info, error)
	Delete(ctx context.Context, key string) error
}

// Options configure a Worker; zero fields take the defaults noted (those
// of the worker.* config keys).
type Options struct {
	// Name identifies the worker in jobs and logs ("": host-pid-random).
	Name string
	// Backend is "go" ("" too) or "xla:cpu", "xla:cuda", "xla:/plugin.so".
	Backend string
	// WorkDir holds each job's files while it runs ("": os.TempDir()).
	WorkDir string
	// PollInterval (0: 5s), Lease (0: 2m) and Heartbeat (0: Lease/8).
	PollInterval, Lease, Heartbeat time.Duration
	// MaxLogLines caps the stored log lines per attempt (0: 10000).
	MaxLogLines int
	// MaxExtractBytes caps a data set once extracted (0:
	// DefaultMaxExtractBytes); a data set built from fleet uploads whose
	// files would pass it fails as it passes it.
	MaxExtractBytes int64
	// MaxWindows caps the windows of a data set built from fleet uploads
	// (0: fleetset.DefaultMaxWindows, 1,000,000); a build over it fails.
	// The windows are on disk, not in memory, while a build runs.
	MaxWindows int
	// MaxJobDuration bounds one attempt of a job (training or build), from
	// its claim to its end; 0 is no limit (the worker.max_job_duration
	// key's default, 24h, is set by the config). Past it the attempt's
	// context is cancelled and the job fails, not re-queued, with the
	// error "exceeded worker.max_job_duration 24h0m0s" (the same data and
	// config would take as long again). An end already committed stands.
	MaxJobDuration time.Duration
	// StopGrace bounds the wait for a trainer to return once its
	// attempt's context ended (a cancel request, a lost lease,
	// MaxJobDuration, a shutdown) (0: DefaultStopGrace; at most a
	// quarter of Lease, so that the job's end is stored while the lease
	// holds). A trainer still running then is abandoned: the job's end is
	// stored as for a trainer that stopped, the worker moves on (logged
	// "trainer abandoned"), and the trainer's work folder is removed when
	// it returns; nothing it does then reaches the job. While
	// MaxAbandoned abandoned trainers still run, the worker claims no job.
	StopGrace time.Duration
	// CodeVersion is recorded in each bundle's provenance and the registry.
	CodeVersion string
	// Log receives the worker's own events (nil: none).
	Log *slog.Logger
}

// FinishGrace bounds the upload and registration of a trained bundle, or
// of a built data set's archive, after the worker was told to stop
// (SIGTERM): a job whose training (or reading) ended is finished rather
// than run again; past it the attempt stops and is re-queued as one
// stopped while it worked. A worker's stop timeout must exceed it
// (deploy/systemd/rig-cloud@.service's TimeoutStopSec, deploy/k8s's
// terminationGracePeriodSeconds, both 120 s: TestSystemdStopTimeout,
// TestKubernetesManifests), or the SIGKILL loses the upload.
const FinishGrace = time.Minute

// DefaultStopGrace is Options.StopGrace when 0.
const DefaultStopGrace = 30 * time.Second

// MaxAbandoned is how many abandoned trainers (Options.StopGrace) may
// still run before the worker stops claiming jobs until one returns:
// each holds memory and CPU the next job would compete for.
const MaxAbandoned = 2

// DefaultMaxExtractBytes is Options.MaxExtractBytes when 0 (16 GiB, the
// tarball package's default).
const DefaultMaxExtractBytes = 16 << 30

// Worker runs training jobs and builds of fleet data sets, one at a
// time. Make it with NewWorker. It is a prometheus.Collector of its
// attempts' ends: rig_cloud_worker_attempts_total{kind, result} and
// rig_cloud_worker_attempt_duration_seconds{kind, result} (kind
// store.KindTrain or store.KindBuildDataset, result one of the Result
// constants).
type Worker struct {
	q     Queue
	blobs Blobs
	o     Options
	// train is pipeline.Train (replaced by tests: a trainer that
	// ignores its context).
	train func(ctx context.Context, cfg *rig.Config, data pipeline.Data, o pipeline.Options, dir string) (*pipeline.Trained, error)
	// abandoned counts the abandoned trainers still running, and
	// abandonedTotal those abandoned since the worker was made.
	abandoned, abandonedTotal atomic.Int64
	// waitLogged is set while the worker has logged that it waits for
	// abandoned trainers before it claims.
	waitLogged atomic.Bool
	// m counts the attempts' ends (the Worker is their Collector).
	m metrics
	// limitAfter starts the Options.MaxJobDuration timer of an attempt:
	// time.AfterFunc (replaced by tests: a limit that passes when the
	// test says).
	limitAfter func(d time.Duration, f func()) *time.Timer
}

// NewWorker returns a worker on q and blobs.
func NewWorker(q Queue, blobs Blobs, o Options) *Worker {
	if o.Name == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		o.Name = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if o.Backend == "" {
		o.Backend = "go"
	}
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = o.Lease / 8
	}
	if o.MaxLogLines <= 0 {
		o.MaxLogLines = 10_000
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	o.StopGrace = min(o.StopGrace, o.Lease/4)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Worker{q: q, blobs: blobs, o: o, train: pipeline.Train, m: newMetrics(), limitAfter: time.AfterFunc}
}

// Name returns the worker's name.
func (w *Worker) Name() string { return w.o.Name }

// Abandoned returns how many abandoned trainers (Options.StopGrace) still
// run, and how many were abandoned since the worker was made (exported
// by rig-cloud worker's /metrics).
func (w *Worker) Abandoned() (running, total int64) {
	return w.abandoned.Load(), w.abandonedTotal.Load()
}

// Run claims and runs jobs until ctx ends; an idle worker polls every
// PollInterval. A job running when ctx ends is stopped and re-queued.
// Errors of one job or claim are logged, not returned.
func (w *Worker) Run(ctx context.Context) error {
	w.o.Log.Info("worker started", "worker", w.o.Name, "backend", w.o.Backend)
	for ctx.Err() == nil {
		ran, err := w.RunOnce(ctx)
		if err != nil {
			w.o.Log.Warn("claim failed", "worker", w.o.Name, "err", err)
		}
		if ran && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.o.PollInterval):
		}
	}
	w.o.Log.Info("worker stopped", "worker", w.o.Name)
	return nil
}

// RunOnce claims one job (store.Claim's turn: a training job or a data
// set's build) and runs it to its end; ran is false when no job was
// queued. err is a claim error (a job's own failure is stored in the job,
// or the data set, not returned).
func (w *Worker) RunOnce(ctx context.Context) (ran bool, err error) {
	if n := w.abandoned.Load(); n >= MaxAbandoned {
		if !w.waitLogged.Swap(true) {
			w.o.Log.Warn("abandoned trainers still run: no job is claimed until one returns",
				"worker", w.o.Name, "abandoned", n, "max", MaxAbandoned)
		}
		return false, nil
	}
	w.waitLogged.Store(false)
	// The lease runs, at the latest, from before the claim was sent.
	held := time.Now()
	c, err := w.q.Claim(ctx, w.o.Name, w.o.Backend, w.o.Lease)
	if err != nil || c == nil {
		return false, err
	}
	if c.Kind == store.KindBuildDataset {
		w.build(ctx, c, held)
	} else {
		w.run(ctx, c, held)
	}
	return true, nil
}

// Causes of a job's context ending.
var (
	errCancelled = errors.New("cancelled by request")
	errLeaseLost = errors.New("lease lost")
	// errTooLong (wrapped with the limit by limitDuration) ends an
	// attempt past Options.MaxJobDuration.
	errTooLong = errors.New("exceeded worker.max_job_duration")
	// errAbandoned ends an attempt whose trainer did not return within
	// Options.StopGrace of the attempt's context's end.
	errAbandoned = errors.New("the trainer did not stop")
)

// limitDuration cancels an attempt's context with errTooLong once
// MaxJobDuration has passed (never when it is 0), unless finishing is set
// by then (the attempt's result is written and being stored: a trained
// bundle's upload and FinishJob, a data set's archive): then it cancels
// FinishGrace later, as a shutdown does (attemptContext), so that a job
// whose work ended is not failed for the time its storing takes. stop
// releases the timer.
func (w *Worker) limitDuration(finishing *atomic.Bool, cancel context.CancelCauseFunc, log *slog.Logger) (stop func()) {
	d := w.o.MaxJobDuration
	if d <= 0 {
		return func() {}
	}
	tooLong := func() { cancel(fmt.Errorf("%w %s", errTooLong, d)) }
	var mu sync.Mutex
	stopped := false
	var t *time.Timer
	mu.Lock()
	defer mu.Unlock()
	t = w.limitAfter(d, func() {
		if !finishing.Load() {
			tooLong()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			log.Info("worker.max_job_duration passed while the attempt's result is stored: it gets the grace", "grace", FinishGrace.String())
			t = time.AfterFunc(FinishGrace, tooLong)
		}
	})
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// errNoModel ends an attempt whose trainer returned no error but no
// trained model or written bundle either.
var errNoModel = errors.New("the trainer returned no error but no trained model or bundle manifest (a trainer bug)")

// permanent marks an error that retrying cannot fix.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// run runs one claimed job (its lease held since held) and stores its end.
func (w *Worker) run(ctx context.Context, c *store.Claim, held time.Time) {
	l := c.Lease
	log := w.o.Log.With("worker", w.o.Name, "job", l.JobID, "attempt", l.Attempt)
	log.Info("job claimed", "dataset", c.Dataset.ID, "rig_type", c.Job.RigType)
	j := &running{w: w, lease: l, held: held, start: time.Now(), progress: store.Progress{Phase: "starting"}}
	j.logs = &lineWriter{max: w.o.MaxLogLines}
	base, stop := attemptContext(ctx, &j.finishing, log)
	defer stop()
	jctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	defer w.limitDuration(&j.finishing, cancel, log)()

	var wg sync.WaitGroup
	wg.Go(func() { j.heartbeat(jctx, cancel, log) })
	model, err := j.train(jctx, c)
	cancel(nil)
	wg.Wait()

	// The end is written even when ctx ended (shutdown), within a bound.
	ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ecancel()
	cause := context.Cause(jctx)
	if errors.Is(err, errLeaseLost) || errors.Is(err, errCancelled) {
		cause = err // found when the end was stored, not by a heartbeat
	}
	switch {
	case err == nil:
		// FinishJob committed: the job succeeded whatever its context
		// saw meanwhile (the local lease running out during the commit,
		// or a heartbeat finding the job no longer running because the
		// commit ended it).
		log.Info("job succeeded", "rig_type", model.RigType, "version", model.Version,
			"lease_ended_during_commit", errors.Is(cause, errLeaseLost))
		w.m.ended(store.KindTrain, ResultSucceeded, j.start)
		return
	case errors.Is(cause, errLeaseLost):
		log.Warn("job lease lost: another worker may run it; nothing more written")
		w.m.ended(store.KindTrain, ResultLeaseLost, j.start)
		return
	}
	retry := true
	msg := err.Error()
	switch {
	case errors.Is(cause, errCancelled):
		msg, retry = "cancelled by request", false
	case errors.Is(cause, errTooLong):
		msg, retry = cause.Error(), false
		log.Warn("job stopped: it ran past worker.max_job_duration", "limit", w.o.MaxJobDuration.String())
	case ctx.Err() != nil:
		msg = "the worker stopped (shutdown)" // FailJob queues it again while attempts are left
	case errors.As(err, new(permanent)):
		retry = false
	}
	fmt.Fprintf(j.logs, "attempt %d ended: %s\n", l.Attempt, msg)
	j.flush(ectx, log)
	state, ferr := w.q.FailJob(ectx, l, msg, retry)
	w.m.ended(store.KindTrain, failResult(state, ferr), j.start)
	if ferr != nil {
		log.Warn("job end not stored", "err", ferr)
		return
	}
	log.Info("job ended", "error", msg, "retry", retry)
}

// attemptContext is the context of one attempt: it ends with ctx (a
// shutdown) while the attempt works, and FinishGrace after ctx ends once
// finishing is set (the attempt's result is written: a trained bundle, a
// data set's folder), so that the result is stored and registered rather
// than thrown away. stop releases it.
func attemptContext(ctx context.Context, finishing *atomic.Bool, log *slog.Logger) (_ context.Context, stop func()) {
	base, stopBase := context.WithCancel(context.WithoutCancel(ctx))
	stopAfter := context.AfterFunc(ctx, func() {
		if finishing.Load() {
			log.Info("shutdown: the attempt's result is stored first", "grace", FinishGrace.String())
			time.AfterFunc(FinishGrace, stopBase)
			return
		}
		stopBase()
	})
	return base, func() { stopAfter(); stopBase() }
}

// running is one attempt's state shared by the trainer and the
// heartbeat.
type running struct {
	w     *Worker
	lease store.Lease
	held  time.Time // the lease runs from then at the latest
	start time.Time
	logs  *lineWriter
	// storing serialises storeLogs (the heartbeat and flush).
	storing sync.Mutex
	// finishing is set once the bundle is written: a shutdown lets the
	// attempt store and register it.
	finishing atomic.Bool

	mu       sync.Mutex
	progress store.Progress
}

func (j *running) setPhase(phase string) {
	j.mu.Lock()
	j.progress.Phase = phase
	j.mu.Unlock()
	fmt.Fprintf(j.logs, "phase: %s\n", phase)
}

func (j *running) snapshot() *store.Progress {
	j.mu.Lock()
	defer j.mu.Unlock()
	p := j.progress
	p.ElapsedSeconds = time.Since(j.start).Round(100 * time.Millisecond).Seconds()
	p.UpdatedAt = time.Now().UTC()
	return &p
}

// heartbeat renews the lease and stores progress and logs every
// Heartbeat until ctx ends (Worker.keepAlive).
func (j *running) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger) {
	j.w.keepAlive(ctx, cancel, log, j.held, func(hctx context.Context) (bool, error) {
		stop, err := j.w.q.Heartbeat(hctx, j.lease, j.w.o.Lease, j.snapshot())
		if err != nil {
			return stop, err
		}
		// The lease is renewed: lines the database does not take now
		// stay for the next beat, and do not make this one a failed
		// heartbeat (which would let the lease run out by the worker's
		// clock). A store in progress (the flush) is not waited for.
		if lerr := j.storeLogs(hctx, false); lerr != nil && hctx.Err() == nil && !errors.Is(lerr, store.ErrLeaseLost) {
			log.Warn("log lines not stored; kept for the next heartbeat", "err", lerr)
		}
		return stop, nil
	})
}

// keepAlive calls beat (renew the lease, store progress; stop reports a
// cancel request) every Heartbeat until ctx ends, each call bounded by
// Heartbeat. It cancels the work with errLeaseLost when the lease is
// lost and with errCancelled on a cancel request; other errors are
// logged, the database may be back before the lease ends. When it does
// not come back, the work is cancelled with errLeaseLost as the lease
// runs out by the worker's clock (Lease after held, the start of the
// claim, then of the last heartbeat that went through: never later than
// the database's expiry), before another worker can claim the job. One
// loop for training jobs and data set builds.
func (w *Worker) keepAlive(ctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger, held time.Time,
	beat func(context.Context) (stop bool, err error)) {
	t := time.NewTicker(w.o.Heartbeat)
	defer t.Stop()
	expiry := time.NewTimer(time.Until(held.Add(w.o.Lease)))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			log.Warn("lease ran out without a heartbeat: the job's work stops (another worker may claim it)",
				"lease", w.o.Lease.String(), "held_since", held)
			cancel(errLeaseLost)
			return
		case <-t.C:
		}
		sent := time.Now()
		hctx, hcancel := context.WithTimeout(ctx, w.o.Heartbeat)
		stop, err := beat(hctx)
		hcancel()
		if err == nil {
			held = sent
			expiry.Reset(time.Until(held.Add(w.o.Lease)))
		}
		switch {
		case errors.Is(err, store.ErrLeaseLost):
			cancel(errLeaseLost)
			return
		case err != nil && ctx.Err() == nil:
			log.Warn("heartbeat failed", "err", err)
		case stop:
			log.Info("cancel requested")
			cancel(errCancelled)
			return
		}
	}
}

// flush stores the last progress and log lines, and the count of the
// lines dropped (lineWriter.take).
func (j *running) flush(ctx context.Context, log *slog.Logger) {
	if _, err := j.w.q.Heartbeat(ctx, j.lease, j.w.o.Lease, j.snapshot()); err != nil {
		log.Warn("last progress not stored", "err", err)
		return
	}
	if err := j.storeLogs(ctx, true); err != nil {
		log.Warn("last log lines not stored", "err", err)
	}
}

// storeLogs appends the log lines collected since the last call to the
// job's log. Lines the database did not take (a timeout, a dropped
// connection) go back to the front of the collector, so the next
// heartbeat or the final flush stores them in order: a slow database
// never loses a job's lines. An append that timed out after the
// database took it is sent again with the same line numbers, and the
// store skips the lines it holds: each line exactly once. final is the
// flush's (lineWriter.take).
func (j *running) storeLogs(ctx context.Context, final bool) error {
	// One append at a time: the heartbeat and the final flush both store,
	// and lines put back must not be overtaken by later ones. The
	// heartbeat does not wait (final false): a hung append of the flush
	// must not stop it from renewing the lease.
	if final {
		j.storing.Lock()
	} else if !j.storing.TryLock() {
		return nil
	}
	defer j.storing.Unlock()
	lines := j.logs.take(final)
	if len(lines) == 0 {
		return nil
	}
	if err := j.w.q.AppendLogs(ctx, j.lease, lines); err != nil {
		j.logs.putBack(lines)
		return err
	}
	return nil
}

// train does the job's work and registers the model.
func (j *running) train(ctx context.Context, c *store.Claim) (*store.ModelVersion, error) {
	w := j.w
	cfg, err := ParseConfig(c.Job.Config)
	if err != nil {
		return nil, permanent{err}
	}
	d := c.Dataset
	if d.BlobKey == nil || d.Digest == nil {
		return nil, permanent{fmt.Errorf("data set %d has no archive", d.ID)}
	}
	rc, err := rig.Parse(fmt.Sprintf("dataset-%d-rig.yaml", d.ID), []byte(d.RigConfig))
	if err != nil {
		return nil, permanent{fmt.Errorf("data set %d's rig config: %w", d.ID, err)}
	}
	if rc.RigType != c.Job.RigType {
		return nil, permanent{fmt.Errorf("data set %d's rig config is for %q, the job for %q", d.ID, rc.RigType, c.Job.RigType)}
	}
	dir, err := os.MkdirTemp(w.o.WorkDir, fmt.Sprintf("rig-cloud-job-%d-%d-", j.lease.JobID, j.lease.Attempt))
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	// An abandoned trainer still uses the folder: it is removed when the
	// trainer returns (runTrainer).
	var abandoned bool
	defer func() {
		if !abandoned {
			_ = os.RemoveAll(dir)
		}
	}()

	j.setPhase("downloading")
	data := filepath.Join(dir, "data")
	if err := j.download(ctx, *d.BlobKey, data); err != nil {
		return nil, err
	}

	j.setPhase("training")
	o := cfg.Options(j.lease.JobID, w.o.Backend)
	o.CodeVersion, o.Log = w.o.CodeVersion, j.logs
	epochs := o.Train.Resolved().Epochs
	o.Train.OnEpoch = func(ep train.Epoch, eta time.Duration) {
		j.mu.Lock()
		defer j.mu.Unlock()
		p := &j.progress
		p.Epoch, p.Epochs, p.TrainLoss, p.ETASeconds = ep.Epoch, epochs, round6(ep.TrainLoss), eta.Round(time.Second).Seconds()
		if ep.Val != nil {
			p.ValLoss = round6(ep.Val.Loss)
			p.Metrics = map[string]float64{}
			for _, t := range ep.Val.Targets {
				p.Metrics[t.Name+".accuracy"] = round6(t.Accuracy)
				p.Metrics[t.Name+".macro_f1"] = round6(t.MacroF1)
			}
		}
	}
	out := filepath.Join(dir, "bundle")
	label := fmt.Sprintf("dataset %d %s (%s)", d.ID, d.Name, *d.Digest)
	t, err := j.runTrainer(ctx, func(ctx context.Context) (*pipeline.Trained, error) {
		return w.train(ctx, rc, pipeline.Data{Kind: d.Kind, Dir: data, Label: label}, o, out)
	}, func() { _ = os.RemoveAll(dir) })
	abandoned = errors.Is(err, errAbandoned)
	if err == nil && ctx.Err() != nil {
		// A trainer that returned a result after its attempt ended (it
		// does not check ctx): nothing of it is stored.
		err = fmt.Errorf("training ended after the attempt was stopped: %w", context.Cause(ctx))
	}
	if err != nil {
		// The data, or a model the config describes that cannot be
		// built on it (gnn.ErrConfig: hidden not a multiple of heads, a
		// patch that does not divide the window; prep.ErrInvalidSpec: a
		// grid with no step in the window): every attempt would end so.
		if errors.Is(err, train.ErrData) || errors.Is(err, export.ErrExport) || errors.Is(err, gnn.ErrConfig) ||
			errors.Is(err, prep.ErrInvalidSpec) {
			return nil, permanent{err}
		}
		return nil, err
	}
	if t == nil || t.Result == nil || t.Written == nil || t.Written.Manifest == nil {
		// A trainer bug, not the data's: the same code would return the
		// same on every attempt, and nothing of it can be registered.
		return nil, permanent{errNoModel}
	}
	j.finishing.Store(true)
	j.mu.Lock()
	j.progress.BestEpoch, j.progress.ETASeconds = t.Result.BestEpoch, 0
	j.mu.Unlock()

	j.setPhase("uploading")
	key := fmt.Sprintf("orgs/%d/jobs/%d/attempt-%d/bundle.tar.gz", c.OrgID, j.lease.JobID, j.lease.Attempt)
	info, err := j.upload(ctx, key, out)
	if err != nil {
		j.deleteBlob(ctx, key)
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, permanent{fmt.Errorf("%w (blob.max_object_bytes): a smaller model configuration is needed", err)}
		}
		return nil, err
	}
	man, err := os.ReadFile(filepath.Join(out, bundle.ManifestFile))
	if err != nil {
		j.deleteBlob(ctx, key)
		return nil, err
	}
	prov := t.Written.Manifest.Provenance
	j.setPhase("registering")
	j.flush(ctx, w.o.Log)
	return j.register(ctx, store.Artifact{Key: key, Bytes: info.Size, Digest: info.SHA256}, fleetapi.ModelVersion{
		BundleName: t.Written.Manifest.Name, BundleVersion: t.Written.Manifest.Version,
		DatasetDigest: t.Digest, ArchiveDigest: *d.Digest, CodeVersion: w.o.CodeVersion, Backend: prov.Backend,
		Config: prov.Config, Metrics: export.Metrics(t.Result), Manifest: json.RawMessage(man),
	})
}

// runTrainer runs train and returns what it returns. Once ctx ends it
// waits at most Options.StopGrace more: a trainer still running then is
// abandoned (logged, counted by Worker.Abandoned) and runTrainer returns
// errAbandoned wrapped with ctx's cause, so that the attempt ends as one
// whose trainer stopped would. The abandoned trainer goes on in its
// goroutine; when it returns, its result is dropped and cleanup (the
// removal of the attempt's work folder) runs. cleanup does not run
// otherwise: the caller owns the folder.
func (j *running) runTrainer(ctx context.Context, train func(context.Context) (*pipeline.Trained, error), cleanup func()) (*pipeline.Trained, error) {
	type result struct {
		t   *pipeline.Trained
		err error
	}
	w := j.w
	done := make(chan result, 1)
	var abandoned atomic.Bool
	go func() {
		t, err := train(ctx)
		done <- result{t, err}
		// Whoever clears the mark first owns the end: here, the
		// cleanup of a trainer runTrainer gave up on.
		if abandoned.CompareAndSwap(true, false) {
			cleanup()
			w.abandoned.Add(-1)
			w.o.Log.Info("abandoned trainer returned; its work folder is removed", "worker", w.o.Name,
				"job", j.lease.JobID, "attempt", j.lease.Attempt, "err", err)
		}
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(w.o.StopGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		return r.t, r.err
	case <-grace.C:
	}
	// Counted before it is marked, so that the trainer's goroutine never
	// takes the count below zero.
	w.abandoned.Add(1)
	abandoned.Store(true)
	select {
	case r := <-done:
		if abandoned.CompareAndSwap(true, false) { // it returned just now: not abandoned
			w.abandoned.Add(-1)
			return r.t, r.err
		}
	default:
	}
	w.abandonedTotal.Add(1)
	cause := context.Cause(ctx)
	w.o.Log.Warn("trainer abandoned: it did not stop within worker stop grace of its attempt's end; the worker moves on",
		"worker", w.o.Name, "job", j.lease.JobID, "attempt", j.lease.Attempt, "grace", w.o.StopGrace.String(), "cause", cause)
	fmt.Fprintf(j.logs, "the trainer did not stop within %s of the attempt's end (%v): abandoned\n", w.o.StopGrace, cause)
	return nil, fmt.Errorf("%w within %s: %w", errAbandoned, w.o.StopGrace, cause)
}

// register finishes the job with the uploaded bundle art. The commit is
// not cut short by a cancel request or a shutdown arriving meanwhile
// (an error after a commit that went through would lose the bundle of a
// succeeded job). When the lease was lost, or a cancel was requested,
// nothing refers to art: its blob is deleted. After another error the
// commit's outcome is unknown and the blob is kept (logged).
func (j *running) register(ctx context.Context, art store.Artifact, mv fleetapi.ModelVersion) (*store.ModelVersion, error) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	m, err := j.w.q.FinishJob(fctx, j.lease, art, mv)
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		j.deleteBlob(ctx, art.Key)
		return nil, errLeaseLost
	case errors.Is(err, store.ErrCancelRequested):
		j.deleteBlob(ctx, art.Key)
		return nil, errCancelled
	case err != nil:
		j.w.o.Log.Warn("job end not confirmed; its bundle is kept", "job", j.lease.JobID, "key", art.Key, "err", err)
	}
	return m, err
}

// deleteBlob deletes a bundle nothing refers to (ctx may have ended).
func (j *running) deleteBlob(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := j.w.blobs.Delete(dctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		j.w.o.Log.Warn("delete the bundle of an unfinished job", "job", j.lease.JobID, "key", key, "err", err)
	}
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// download extracts the archive under key into dir; ctx stops it (per
// read of the archive).
func (j *running) download(ctx context.Context, key, dir string) error {
	rc, info, err := j.w.blobs.Get(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return permanent{fmt.Errorf("data set archive %s is missing from the blob store", key)}
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	// Read through ctx: a cancel stops the extraction of a large archive
	// at its next read, not at its end.
	if err := tarball.Extract(ctxio.Reader(ctx, rc), dir, tarball.Limits{MaxBytes: j.w.o.MaxExtractBytes}); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("extract the data set archive: %w", cerr)
		}
		if errors.Is(err, tarball.ErrInvalid) {
			return permanent{fmt.Errorf("data set archive: %w", err)}
		}
		// A read of the blob store that failed (a dropped connection)
		// or a full work disk: another attempt may get through.
		return fmt.Errorf("extract the data set archive %s: %w", key, err)
	}
	fmt.Fprintf(j.logs, "data set archive %s: %d bytes extracted\n", key, info.Size)
	return nil
}

// upload archives the folder dir into the blob store under key.
func (j *running) upload(ctx context.Context, key, dir string) (blob.Info, error) {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(pw, dir)) }()
	info, err := j.w.blobs.Put(ctx, key, pr)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if Put stopped early
	if err != nil {
		return info, fmt.Errorf("store the bundle: %w", err)
	}
	fmt.Fprintf(j.logs, "bundle stored as %s (%d bytes, %s)\n", key, info.Size, info.SHA256)
	return info, nil
}

// lineWriter collects the lines written to it, at most max in all;
// further lines are counted, and reported by one line at the final take
// (the flush). It numbers the lines 1, 2, ... in the order it collects
// them (one lineWriter per attempt: the store keys lines by job, attempt
// and number).
type lineWriter struct {
	mu      sync.Mutex
	max     int
	stored  int
	dropped int
	last    int // the number of the last line collected
	partial strings.Builder
	lines   []store.NumberedLine
}

// Write splits p into lines (a partial last line waits for its end).
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			w.partial.WriteString(s)
			if w.partial.Len() > 4096 { // a line without end: cut it
				w.add(w.partial.String())
				w.partial.Reset()
			}
			return len(p), nil
		}
		w.partial.WriteString(s[:i])
		w.add(w.partial.String())
		w.partial.Reset()
		s = s[i+1:]
	}
}

func (w *lineWriter) add(line string) {
	line = strings.TrimRight(line, "\r")
	if len(line) > 4096 {
		line = line[:4096]
	}
	// Valid UTF-8 without NUL, or PostgreSQL refuses the whole batch of
	// lines (a cut may split a character; a trainer may print anything).
	line = strings.ReplaceAll(strings.ToValidUTF8(line, "\uFFFD"), "\x00", "")
	if w.stored >= w.max {
		w.dropped++
		return
	}
	w.stored++
	w.number(line)
}

// number appends line under the next number.
func (w *lineWriter) number(line string) {
	w.last++
	w.lines = append(w.lines, store.NumberedLine{N: w.last, Line: line})
}

// putBack returns lines a take gave out, and that could not be stored,
// to the front of the lines collected since (they were counted when they
// were written), with their numbers.
func (w *lineWriter) putBack(lines []store.NumberedLine) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines = append(lines[:len(lines):len(lines)], w.lines...)
}

// take returns the lines collected since the last take. A final take
// (a flush: before the model is registered, or at the attempt's end)
// adds, when lines were dropped since the last final take, one line
// counting them, numbered after every line collected: the store keeps it
// once like any line, and putBack returns it with its number. So an
// attempt stores one such line, or two when lines were dropped after the
// flush before the registration (the registration then failed).
func (w *lineWriter) take(final bool) []store.NumberedLine {
	w.mu.Lock()
	defer w.mu.Unlock()
	if final && w.dropped > 0 {
		w.number(fmt.Sprintf("(%d more log lines dropped: worker.max_log_lines is %d)", w.dropped, w.max))
		w.dropped = 0
	}
	out := w.lines
	w.lines = nil
	return out
}
