package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hydrognn/hydrognn/cloud/internal/blob"
	"github.com/hydrognn/hydrognn/cloud/internal/fleetset"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/tarball"
)

// build runs one claimed build job (a data set from fleet uploads) and
// stores its end, as run does for a training job.
func (w *Worker) build(ctx context.Context, c *store.Claim, held time.Time) {
	l := c.Lease
	log := w.o.Log.With("worker", w.o.Name, "job", l.JobID, "attempt", l.Attempt, "dataset", c.Dataset.ID)
	b := &building{w: w, lease: l, held: held, orgID: c.OrgID, d: c.Dataset}
	base, stopBase := attemptContext(ctx, &b.finishing, log)
	defer stopBase()
	bctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	defer w.limitDuration(&b.finishing, cancel, log)()
	if c.Dataset.Build != nil {
		b.progress = *c.Dataset.Build
	}
	b.progress.Phase, b.progress.Attempt = fleetapi.BuildReading, l.Attempt
	b.progress.RigsDone, b.progress.Readings, b.progress.Windows, b.progress.Rigs = 0, 0, 0, nil
	log.Info("data set build claimed", "rigs", len(b.progress.RigIDs))
	stop, err := w.q.HeartbeatBuild(bctx, l, w.o.Lease, b.snapshot())
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("data set build lease lost: another worker may run it; nothing more written")
		return
	}
	if stop { // cancelled while it was being claimed
		cancel(errCancelled)
	}

	var wg sync.WaitGroup
	wg.Go(func() { b.heartbeat(bctx, cancel, log) })
	var d *store.Dataset
	err = errCancelled
	if !stop {
		d, err = b.run(bctx)
	}
	cancel(nil)
	wg.Wait()

	ectx, ecancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ecancel()
	switch {
	case err == nil:
		// FinishBuild committed: the data set is ready whatever the
		// build's context saw meanwhile (as for a training job in run).
		log.Info("data set built", "windows", d.Build.Windows, "readings", d.Build.Readings, "bytes", deref(d.Bytes),
			"lease_ended_during_commit", errors.Is(context.Cause(bctx), errLeaseLost))
		w.m.ended(store.KindBuildDataset, ResultSucceeded, held)
		return
	case errors.Is(context.Cause(bctx), errLeaseLost) || errors.Is(err, errLeaseLost):
		log.Warn("data set build lease lost: another worker may run it; nothing more written")
		w.m.ended(store.KindBuildDataset, ResultLeaseLost, held)
		return
	}
	retry := true
	msg := err.Error()
	cancelled := errors.Is(context.Cause(bctx), errCancelled) || errors.Is(err, errCancelled)
	switch {
	case cancelled:
		// The job's error already says who cancelled: FailJob keeps it.
		msg, retry = "cancelled by request", false
	case errors.Is(context.Cause(bctx), errTooLong):
		msg, retry = context.Cause(bctx).Error(), false
		log.Warn("data set build stopped: it ran past worker.max_job_duration", "limit", w.o.MaxJobDuration.String())
	case ctx.Err() != nil:
		msg = "the worker stopped (shutdown)" // FailJob queues it again while attempts are left
	case errors.As(err, new(permanent)):
		retry = false
	}
	// The last progress shows how far the attempt got (per rig).
	if _, herr := w.q.HeartbeatBuild(ectx, l, w.o.Lease, b.snapshot()); herr != nil {
		log.Warn("last build progress not stored", "err", herr)
	}
	state, ferr := w.q.FailJob(ectx, l, msg, retry)
	w.m.ended(store.KindBuildDataset, failResult(state, ferr), held)
	if ferr != nil {
		log.Warn("data set build end not stored", "err", ferr)
		return
	}
	log.Info("data set build ended", "error", msg, "retry", retry)
}

func deref[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

// building is one build attempt's state shared by the builder and the
// heartbeat.
type building struct {
	w     *Worker
	lease store.Lease
	held  time.Time // the lease runs from then at the latest
	orgID int64
	d     store.Dataset

	readings atomic.Int64 // read so far in this attempt
	windows  atomic.Int64 // kept so far
	// finishing is set once every rig is read: a shutdown lets the
	// attempt store the archive and mark the data set ready.
	finishing atomic.Bool

	mu       sync.Mutex
	progress fleetapi.DatasetBuild
}

func (b *building) snapshot() *fleetapi.DatasetBuild {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.progress
	p.Rigs = slices.Clone(p.Rigs)
	p.Readings, p.Windows = b.readings.Load(), int(b.windows.Load())
	p.UpdatedAt = time.Now().UTC()
	return &p
}

func (b *building) setPhase(phase string) {
	b.mu.Lock()
	b.progress.Phase = phase
	b.mu.Unlock()
}

// heartbeat renews the lease and stores the progress every Heartbeat
// until ctx ends (Worker.keepAlive).
func (b *building) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, log *slog.Logger) {
	b.w.keepAlive(ctx, cancel, log, b.held, func(hctx context.Context) (bool, error) {
		return b.w.q.HeartbeatBuild(hctx, b.lease, b.w.o.Lease, b.snapshot())
	})
}

// run reads every rig's readings of the range into windows, stores the
// archive and marks the data set ready. A data problem is permanent.
func (b *building) run(ctx context.Context) (*store.Dataset, error) {
	w, d := b.w, b.d
	spec := d.Build
	if spec == nil {
		return nil, permanent{fmt.Errorf("data set %d has no build request", d.ID)}
	}
	cfg, err := rig.Parse(fmt.Sprintf("dataset-%d-rig.yaml", d.ID), []byte(d.RigConfig))
	if err != nil {
		return nil, permanent{fmt.Errorf("data set %d's rig config: %w", d.ID, err)}
	}
	// The windows go to the folder as they are cut (fleetset): the
	// worker's memory does not grow with the data set, its disk does, up
	// to what a worker can extract to train on it.
	dir, err := os.MkdirTemp(w.o.WorkDir, fmt.Sprintf("rig-cloud-build-%d-", d.ID))
	if err != nil {
		return nil, fmt.Errorf("work folder: %w", err)
	}
	defer os.RemoveAll(dir)
	set := filepath.Join(dir, "set")
	maxBytes := w.o.MaxExtractBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxExtractBytes
	}
	fb, err := fleetset.New(cfg, fleetset.Options{Labels: spec.Labels, MaxWindows: w.o.MaxWindows, MaxBytes: maxBytes, Dir: set})
	if err != nil {
		return nil, permanent{err}
	}
	defer fb.Close()
	for i, id := range spec.RigIDs {
		err := fb.AddRig(id, spec.From, spec.To, func(fn func(reading.Reading) error) error {
			return w.q.RigReadings(ctx, b.orgID, id, spec.From, spec.To, func(r reading.Reading) error {
				if b.readings.Add(1)%4096 == 0 {
					b.windows.Store(int64(fb.Windows()))
				}
				return fn(r)
			})
		})
		b.windows.Store(int64(fb.Windows()))
		switch {
		case errors.Is(err, fleetset.ErrTooMany):
			return nil, permanent{fmt.Errorf("%w (worker.max_windows)", err)}
		case errors.Is(err, fleetset.ErrTooLarge):
			return nil, permanent{fmt.Errorf("%w (a worker extracts at most %d bytes to train on it)", err, maxBytes)}
		case errors.Is(err, store.ErrNotFound):
			return nil, permanent{fmt.Errorf("rig %q is no longer in the organisation: %w", id, err)}
		case err != nil:
			if cerr := context.Cause(ctx); cerr != nil {
				return nil, cerr
			}
			return nil, fmt.Errorf("read rig %q: %w", id, err)
		}
		b.mu.Lock()
		b.progress.RigsDone, b.progress.Rigs = i+1, slices.Clone(fb.Rigs())
		b.mu.Unlock()
	}
	if fb.Windows() == 0 {
		return nil, permanent{fmt.Errorf("no complete window of %g s in %s..%s: %s", cfg.Operation.CycleS,
			spec.From.Format(time.RFC3339), spec.To.Format(time.RFC3339), describeRigs(fb.Rigs()))}
	}

	b.finishing.Store(true)
	b.setPhase(fleetapi.BuildStoring)
	if err := fb.Finish(); err != nil {
		return nil, fmt.Errorf("write data set %d: %w", d.ID, err)
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := fmt.Sprintf("orgs/%d/datasets/fleet-%s.tar.gz", b.orgID, hex.EncodeToString(rnd[:]))
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(pw, set)) }()
	info, err := w.blobs.Put(ctx, key, pr)
	pr.CloseWithError(io.ErrClosedPipe) // ends the writer if Put stopped early
	if err != nil {
		b.deleteBlob(ctx, key)
		if errors.Is(err, blob.ErrTooLarge) {
			return nil, permanent{fmt.Errorf("the data set's archive (%d windows) is larger than blob.max_object_bytes: ask for a shorter range or fewer rigs",
				fb.Windows())}
		}
		return nil, fmt.Errorf("store the data set's archive: %w", err)
	}

	b.setPhase(fleetapi.BuildDone)
	// Not cut short by a cancel request or a shutdown arriving meanwhile:
	// an error after a commit that went through would delete the archive
	// of a ready data set.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	out, err := w.q.FinishBuild(fctx, b.lease, key, info.Size, info.SHA256, *b.snapshot())
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		// Nothing refers to the archive: the data set stays building.
		b.deleteBlob(ctx, key)
		return nil, errLeaseLost
	case errors.Is(err, store.ErrCancelRequested):
		b.deleteBlob(ctx, key)
		return nil, errCancelled
	case err != nil:
		// The commit's outcome is unknown: the archive is kept (logged).
		w.o.Log.Warn("build end not confirmed; its archive is kept", "dataset", b.d.ID, "key", key, "err", err)
		return nil, err
	}
	return out, nil
}

// deleteBlob deletes an archive nothing refers to (ctx may have ended).
func (b *building) deleteBlob(ctx context.Context, key string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := b.w.blobs.Delete(dctx, key); err != nil && !errors.Is(err, blob.ErrNotFound) {
		b.w.o.Log.Warn("delete the archive of an unfinished build", "dataset", b.d.ID, "key", key, "err", err)
	}
}

// describeRigs says what each rig's readings gave.
func describeRigs(rs []fleetset.RigStats) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("rig %s: %d readings, %d windows with a missing cell", r.RigID, r.Readings, r.Skipped)
	}
	return strings.Join(parts, "; ")
}
