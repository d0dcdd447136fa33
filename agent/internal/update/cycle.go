package update

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/release"
)

// state is one state of the machine: its handler does the state's step
// and returns the next state (nil ends the cycle, with the error
// returned). The driver persists a state before its handler runs, so the
// recovery table in Open sees the step that was under way.
type state interface {
	name() StateName
	run(ctx context.Context, c *cycle) (state, error)
}

// cycle is what one pass of the machine shares between states.
type cycle struct {
	m  *Manager
	s  *session
	tf *metadata.TargetFiles // the picked target, from the fresh metadata
	// changed is closed when the offer the check followed changes (nil:
	// no offers).
	changed <-chan struct{}
}

type (
	idle        struct{}
	checking    struct{}
	downloading struct{}
	verifying   struct{}
	staged      struct{}
	canary      struct{}
	committing  struct{}
	committed   struct{}
	rollingBack struct{ why error }
	failed      struct{ err error }
	// incompatible refuses an offered release that does not fit this rig
	// (ErrIncompatible): no attempt counted, the cycle ends.
	incompatible struct{ err error }
	// abandoned drops the release in progress without counting an
	// attempt (its offer was withdrawn) and ends the cycle idle.
	abandoned struct{ why error }
	// watchOver is idle after a commit's watch ended: stored and reported
	// as committed -> idle, then the cycle goes on to a check.
	watchOver struct{}
)

func (idle) name() StateName         { return Idle }
func (checking) name() StateName     { return Checking }
func (downloading) name() StateName  { return Downloading }
func (verifying) name() StateName    { return Verifying }
func (staged) name() StateName       { return Staged }
func (canary) name() StateName       { return Canarying }
func (committing) name() StateName   { return Committing }
func (committed) name() StateName    { return Committed }
func (rollingBack) name() StateName  { return RollingBack }
func (abandoned) name() StateName    { return Idle }
func (watchOver) name() StateName    { return Idle }
func (failed) name() StateName       { return Failed }
func (incompatible) name() StateName { return Incompatible }

// Cycle runs the machine once from the stored state: refresh the TUF
// metadata and pick a release; download (resuming), verify and stage it;
// canary; commit. While a commit is watched it only checks the watchdog
// (rolling back when it tripped) and starts nothing new. It returns the
// reason the cycle stopped short: a refused refresh (ErrMetadata: nothing
// changes, the installed model keeps serving), a download to resume, a
// failed attempt, a rollback, a full disk (ErrDiskFull, also when a write
// failed with ENOSPC or EDQUOT). A nil error means idle, nothing newer, or
// committed.
func (m *Manager) Cycle(ctx context.Context) error {
	m.cycleMu.Lock()
	defer m.cycleMu.Unlock()
	// The disk filling up at any step (the metadata, the state, the
	// download, the extraction) is a full disk: Run waits for the next
	// check, as after a failed free-space check.
	err := asDiskFull(m.runCycle(ctx), "update cycle")
	if err != nil && ctx.Err() == nil {
		m.mu.Lock()
		m.cycleErrs[CycleErrorReason(err)]++
		m.mu.Unlock()
	}
	return err
}

// CycleErrorReasons are the reasons Status.CycleErrors counts by, most
// specific first (CycleErrorReason).
var CycleErrorReasons = []string{"unauthorized", "metadata", "too_long", "download", "budget", "disk_full", "verify", "mismatch",
	"incompatible", "offer", "no_windows", "canary", "stale", "rollback", "activate", "watchdog", "other"}

// CycleErrorReason names the reason of an error Cycle returned, one of
// CycleErrorReasons: the first of the sentinel errors it wraps
// (unauthorized before metadata, a metadata fetch refused with a 401 wraps
// both; an offer refused as not fitting this rig wraps ErrIncompatible
// and ErrOffer: "incompatible", so that a release the cloud should not
// have offered is told from a broken offer), "download" for a cut or
// refused archive download (ErrTruncated, an HTTP error, no answer),
// "other" for the rest (a state write, a folder that cannot be read). A write refused for want of space (ENOSPC,
// EDQUOT) is "disk_full" whatever step it failed.
func CycleErrorReason(err error) string {
	if noSpace(err) {
		return "disk_full"
	}
	for _, r := range []struct {
		err    error
		reason string
	}{
		{ErrUnauthorized, "unauthorized"}, {ErrMetadata, "metadata"}, {ErrTooLong, "too_long"}, {ErrTruncated, "download"},
		{ErrBudget, "budget"}, {ErrDiskFull, "disk_full"}, {ErrVerify, "verify"}, {ErrMismatch, "mismatch"},
		{ErrIncompatible, "incompatible"}, {ErrOffer, "offer"},
		{ErrNoWindows, "no_windows"}, {ErrCanary, "canary"}, {ErrStale, "stale"}, {ErrRollback, "rollback"},
		{ErrActivate, "activate"}, {ErrWatchdog, "watchdog"},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	if errors.As(err, new(*downloadError)) {
		return "download"
	}
	return "other"
}

// runCycle is Cycle's pass (m.cycleMu held).
func (m *Manager) runCycle(ctx context.Context) error {
	m.reactivate(ctx)
	c := &cycle{m: m}
	m.mu.Lock()
	var st state = checking{}
	if m.rec.State == Committed {
		st = committed{}
	}
	m.mu.Unlock()
	for {
		m.opts.Heartbeat.Beat()
		next, err := st.run(ctx, c)
		if next == nil {
			return err
		}
		m.mu.Lock()
		from := st.name()
		m.rec.State = next.name()
		t := m.rec.Target // reported as it was: failing drops it
		switch n := next.(type) {
		case failed:
			m.failLocked(n.err)
		case incompatible:
			// Record.Failed names the refused offer (set by checking).
			m.rec.LastError = n.err.Error()
		default:
			m.rec.Failed = nil
		}
		if rb, ok := next.(rollingBack); ok {
			m.rec.LastError = rb.why.Error()
		}
		if _, ok := next.(abandoned); ok && m.rec.Target != nil {
			m.rec.Target = nil
			m.prune(&m.rec)
		}
		serr := m.save()
		m.mu.Unlock()
		if serr != nil {
			return serr
		}
		var why error
		switch n := next.(type) {
		case failed:
			why = n.err
		case incompatible:
			why = n.err
		case rollingBack:
			why = n.why
		case abandoned:
			why = n.why
		}
		m.report(from, next.name(), t, why)
		st = next
	}
}

// activate has the Activator serve dir, beaten for while it opens the
// model (a TensorRT engine build takes minutes on a Jetson), up to
// liveness.ModelOpenBound: an open hung longer stalls the update loop.
func (m *Manager) activate(ctx context.Context, dir string) error {
	defer m.opts.Heartbeat.Cover(liveness.ModelOpenBound)()
	return m.opts.Activator.Activate(ctx, dir)
}

// reactivate makes the service serve the installed bundle when the last
// activation of it failed (a rollback whose Activate failed: the service
// still serves the model rolled back from), and counts a failure as an
// "activate" cycle error; the cycle goes on either way (m.cycleMu held).
func (m *Manager) reactivate(ctx context.Context) {
	cur := m.Current()
	if m.opts.Activator == nil || m.served == cur {
		return
	}
	if err := m.activate(ctx, cur); err != nil {
		if ctx.Err() == nil {
			m.log.Error("update: the service does not serve the installed bundle, and activating it failed again", "dir", cur, "served", m.served, "err", err)
			m.mu.Lock()
			m.cycleErrs["activate"]++
			m.mu.Unlock()
		}
		return
	}
	m.log.Info("update: the installed bundle is served again", "dir", cur, "was", m.served)
	m.served = cur
}

// failLocked counts a failed attempt of the target in progress and drops
// it, its part file and its staged folder (m.mu held).
func (m *Manager) failLocked(err error) {
	r := &m.rec
	if t := r.Target; t != nil {
		r.Attempts[t.Path]++
		if errors.As(err, new(*giveUpError)) {
			r.Attempts[t.Path] = max(r.Attempts[t.Path], m.opts.MaxAttempts)
		}
		r.Failed = &Failure{Path: t.Path, Rollout: t.Rollout}
		if t.Release != nil {
			r.Failed.Version = t.Release.Version
		}
	}
	r.Target = nil
	r.LastError = err.Error()
	m.prune(r)
}

func (idle) run(context.Context, *cycle) (state, error) { return nil, nil }

func (f failed) run(context.Context, *cycle) (state, error) { return nil, f.err }

func (i incompatible) run(context.Context, *cycle) (state, error) { return nil, i.err }

func (abandoned) run(context.Context, *cycle) (state, error) { return nil, nil }

func (checking) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	s, err := c.s, error(nil)
	if s == nil {
		s, err = m.refresh(ctx)
	}
	if err != nil {
		m.mu.Lock()
		stored, t := m.rec.State, m.rec.Target
		m.mu.Unlock()
		m.report(Checking, stored, t, err)
		return nil, err
	}
	c.s = s
	offer, known, changed := m.offer()
	c.changed = changed
	var next state
	m.mu.Lock()
	defer m.mu.Unlock()
	if !known {
		// No check-in answer yet: fresh metadata, but nothing started or
		// abandoned; the first answer wakes Run.
		m.lastCheck = &Check{At: m.opts.Now()}
		m.rec.MetadataExpires = s.expires
		return nil, nil
	}
	chk, tf, perr := m.pick(s, &m.rec, m.opts.Offers != nil, offer)
	m.lastCheck = chk
	r := &m.rec
	r.MetadataExpires = s.expires
	if m.opts.Offers != nil {
		r.Rollout = 0
		if offer != nil {
			r.Rollout = offer.Rollout
		}
	}
	c.tf = tf
	r.Failed = nil
	switch {
	case perr != nil:
		// The offered release is refused; one in progress is dropped,
		// uncounted (the refusal is not its attempt).
		if r.Target != nil {
			r.Target = nil
			m.prune(r)
		}
		if offer != nil {
			r.Failed = &Failure{Path: offer.Target, Version: offer.Version, Rollout: offer.Rollout}
		}
		next = failed{perr}
		if errors.Is(perr, ErrIncompatible) {
			// Not for this rig: reported as such, so that the rollout
			// leaves the agent out instead of counting a failure.
			next = incompatible{perr}
		}
	case tf == nil:
		next = idle{}
		if r.Target != nil {
			if m.opts.Offers != nil {
				next = abandoned{fmt.Errorf("%w: %s is no longer offered", ErrWithdrawn, r.Target.Path)}
			}
			r.Target = nil
			m.prune(r)
		}
	case r.Target != nil && r.Target.Path == chk.Pick.Path && r.Target.SHA256 == chk.Pick.SHA256:
		// The release in progress is still the one: resume it.
		r.Target.Rollout, r.Target.Downgrade = chk.Pick.Rollout, chk.Pick.Downgrade
		next = downloading{}
		if r.Target.Staged != "" {
			if _, err := os.Stat(r.Target.Staged); err == nil {
				next = staged{}
			} else {
				r.Target.Staged = ""
			}
		}
	default:
		r.Target = chk.Pick
		r.LastError = ""
		next = downloading{}
		if p := r.Previous; p != nil && p.Path == chk.Pick.Path && p.ManifestDigest == chk.Pick.Release.ManifestDigest {
			// The kept previous bundle is this release (an explicit
			// rollback offered after an upgrade, or the way back up): no
			// download; checked against the fresh signed metadata (model
			// file digests included), then the canary as always.
			if err := m.checkBundle(p.Dir, r.Target); err == nil {
				r.Target.Staged = p.Dir
				next = staged{}
			} else {
				m.log.Warn("update: the previous bundle does not match its release; downloading it", "dir", p.Dir, "err", err)
			}
		}
		m.prune(r)
	}
	return next, nil
}

// withdrawn says why the release in progress may no longer be installed
// (nil when it may): with Options.Offers, the last check-in answer must
// still offer it.
func (m *Manager) withdrawn(t *Target) error {
	if m.opts.Offers == nil {
		return nil
	}
	o, known, _ := m.opts.Offers.Offer()
	switch {
	case !known:
		return nil // no answer yet: nothing is withdrawn
	case o == nil:
		return fmt.Errorf("%w: %s is no longer offered", ErrWithdrawn, t.Path)
	case o.Target != t.Path || t.Release == nil || o.Version != t.Release.Version:
		return fmt.Errorf("%w: %s is no longer offered (%s is)", ErrWithdrawn, t.Path, o.Target)
	}
	return nil
}

// offerChanged reports whether the offer the check saw has changed.
func (c *cycle) offerChanged() bool {
	select {
	case <-c.changed:
		return true
	default:
		return false // c.changed nil (no offers) too
	}
}

// offerContext returns ctx, also cancelled when the offer the check saw
// changes (Options.Offers); stop releases it.
func (c *cycle) offerContext(ctx context.Context) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	if c.changed == nil {
		return ctx, cancel
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-c.changed:
			cancel()
		case <-done:
		}
	}()
	return ctx, func() { close(done); cancel() }
}

func (downloading) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	t := m.target()
	if why := m.withdrawn(t); why != nil {
		return abandoned{why}, nil
	}
	if held, err := partSize(m.partPath(t.SHA256)); err != nil {
		return nil, err
	} else if held < t.Length {
		if err := m.checkSpace("download "+t.Path, t.Length-held); err != nil {
			return nil, err // stays in downloading, nothing counted
		}
	}
	octx, stop := c.offerContext(ctx)
	dctx, cancel := context.WithTimeout(octx, m.opts.DownloadTimeout)
	// Bounded by DownloadTimeout, which may be longer than the stall
	// limit: beaten for meanwhile, no longer than that.
	endCover := m.opts.Heartbeat.Cover(m.opts.DownloadTimeout)
	added, err := m.download(dctx, t, m.targetURL(c.tf))
	endCover()
	cancel()
	stop()
	if err != nil {
		err = &downloadError{err}
	}
	if why := m.withdrawn(t); why != nil {
		return abandoned{why}, nil
	}
	switch {
	case err == nil:
		return verifying{}, nil
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case c.offerChanged():
		// The offer changed but still names this release: resumed by the
		// cycle the change starts.
		return nil, err
	case errors.Is(err, ErrTooLong):
		return failed{err}, nil
	case errors.Is(err, ErrDiskFull):
		// The disk filled up after the check: as a failed check, the part
		// file kept, no attempt counted, tried again at the next check.
		return nil, err
	case added > 0, errors.Is(err, ErrBudget), errors.Is(err, ErrUnauthorized):
		// Progress, held back by the day's budget, or the credential
		// refused: resumed by the next cycle, no attempt counted.
		return nil, err
	}
	// No progress at all: count it, so a server that never delivers ends
	// the attempts instead of looping; but once per CheckInterval at
	// most, since Run retries such a cycle within seconds: an outage of a
	// minute (rig-cloud restarting mid-rollout) costs one attempt, not
	// all of them. A clock that went back counts again.
	m.mu.Lock()
	r := &m.rec
	now := m.opts.Now()
	if s := m.stalled; s.path == t.Path && !now.Before(s.at) && now.Sub(s.at) < m.opts.CheckInterval {
		n := r.Attempts[t.Path]
		m.mu.Unlock()
		return nil, fmt.Errorf("%w (no attempt counted: attempt %d of %d was counted at %s, the next not before %s)", err, n, m.opts.MaxAttempts,
			s.at.UTC().Format(time.RFC3339), s.at.Add(m.opts.CheckInterval).UTC().Format(time.RFC3339))
	}
	m.stalled.path, m.stalled.at = t.Path, now
	n := r.Attempts[t.Path] + 1
	if n >= m.opts.MaxAttempts {
		// The last attempt: failing counts it (failLocked).
		m.mu.Unlock()
		return failed{fmt.Errorf("%w (attempt %d of %d)", err, n, m.opts.MaxAttempts)}, nil
	}
	r.Attempts[t.Path] = n
	err = fmt.Errorf("%w (attempt %d of %d)", err, n, m.opts.MaxAttempts)
	r.LastError = err.Error()
	serr := m.save()
	m.mu.Unlock()
	if serr != nil {
		return nil, serr
	}
	return nil, err
}

// downloadError is an error of the archive download (CycleErrorReason).
type downloadError struct{ err error }

func (e *downloadError) Error() string { return e.err.Error() }
func (e *downloadError) Unwrap() error { return e.err }

// target returns a copy of the target in progress.
func (m *Manager) target() *Target {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := *m.rec.Target
	return &t
}

func (verifying) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	t := m.target()
	dir, err := m.verifyAndStage(ctx, t, c.tf)
	if err != nil && ctx.Err() != nil {
		// The agent stopping, not the release's fault: stays in verifying
		// (the clean-stop marker resumes it there, nothing counted).
		return nil, err
	}
	if errors.Is(err, ErrDiskFull) {
		// Nothing extracted: back to downloading (its part is complete),
		// so that a restart meanwhile counts nothing either.
		if serr := m.edit(func(r *Record) { r.State = Downloading }); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	if errors.As(err, new(*unfitError)) {
		// The signed bytes themselves: no download will ever fit.
		return failed{&giveUpError{err}}, nil
	}
	if err != nil {
		return failed{err}, nil
	}
	if err := m.edit(func(r *Record) { r.Target.Staged = dir }); err != nil {
		return nil, err
	}
	os.Remove(m.partPath(t.SHA256))
	return staged{}, nil
}

func (staged) run(_ context.Context, c *cycle) (state, error) {
	if why := c.m.withdrawn(c.m.target()); why != nil {
		return abandoned{why}, nil
	}
	if c.m.opts.Canary == nil {
		return c.m.readyToCommit()
	}
	return canary{}, nil
}

// readyToCommit checks what installing needs besides the bundle: an offer
// that still names it (Options.Offers), metadata that has not expired
// since the check, and a release still newer than the installed model,
// unless it is an offered downgrade to the kept previous bundle (an
// explicit rollback).
func (m *Manager) readyToCommit() (state, error) {
	if why := m.withdrawn(m.target()); why != nil {
		return abandoned{why}, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := &m.rec
	if !m.opts.Now().Before(r.MetadataExpires) {
		return nil, fmt.Errorf("%w: it expired at %s; the next check refreshes it", ErrStale, r.MetadataExpires.UTC().Format("2006-01-02T15:04:05Z"))
	}
	c, ok := release.CompareVersions(r.Target.Release.Version, r.Installed.Version)
	switch {
	case ok && c < 0 && r.Target.Downgrade && m.opts.Offers != nil && sameRelease(r.Previous, r.Target.Path, r.Target.Release):
		// An explicit rollback to the kept previous bundle: offered, and
		// checked like any release.
	case !ok || c <= 0:
		return failed{fmt.Errorf("%w: %s is not newer than %s", ErrRollback, r.Target.Release.Version, r.Installed.Version)}, nil
	}
	return committing{}, nil
}

func (canary) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	t := m.target()
	octx, stop := c.offerContext(ctx)
	// Two model opens (a TensorRT engine build each) and a few dozen
	// windows run: beaten for, up to two model opens' bound.
	endCover := m.opts.Heartbeat.Cover(2 * liveness.ModelOpenBound)
	err := m.opts.Canary.Check(octx, t.Staged, m.Current())
	endCover()
	stop()
	if why := m.withdrawn(t); why != nil {
		// Not judged, or judged for nothing: the offer is gone.
		return abandoned{why}, nil
	}
	if err != nil && c.offerChanged() && ctx.Err() == nil {
		// The offer changed but still names this release: the canary
		// runs again in the cycle the change starts, nothing counted.
		if serr := m.edit(func(r *Record) { r.State = Staged }); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	if err == nil {
		next, err := m.readyToCommit()
		if next == nil {
			_ = m.edit(func(r *Record) { r.State = Staged })
		}
		return next, err
	}
	if errors.Is(err, ErrNoWindows) || ctx.Err() != nil {
		// Not judged: wait in staged for the next cycle.
		if serr := m.edit(func(r *Record) { r.State = Staged }); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	return failed{fmt.Errorf("canary of %s: %w", t.Path, err)}, nil
}

func (committing) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	t := m.target()
	old := m.Current()
	// The agent stopping is not the release's fault: back to staged, no
	// attempt counted, committed by the next start's cycle.
	stopping := func(err error) (state, error) {
		if serr := m.edit(func(r *Record) { r.State = Staged }); serr != nil {
			return nil, serr
		}
		return nil, err
	}
	// The staged folder is checked again: it sat on disk since Verifying.
	if err := m.checkBundleContext(ctx, t.Staged, t); err != nil {
		if ctx.Err() != nil {
			return stopping(err)
		}
		return failed{err}, nil
	}
	if ctx.Err() != nil {
		return stopping(ctx.Err())
	}
	if err := m.switchTo(t.Staged); err != nil {
		return failed{err}, nil
	}
	if m.opts.Activator != nil {
		if err := m.activate(ctx, t.Staged); err != nil {
			// The service may have swapped before failing: served as
			// unknown until old is activated again.
			m.served = ""
			err = fmt.Errorf("%w %s: %w", ErrActivate, t.Staged, err)
			if serr := m.switchTo(old); serr != nil {
				m.log.Error("update: switch back", "dir", old, "err", serr)
			}
			if aerr := m.activate(ctx, old); aerr != nil && ctx.Err() == nil {
				m.log.Error("update: activate previous model", "dir", old, "err", aerr)
			} else if aerr == nil {
				m.served = old
			}
			if ctx.Err() != nil {
				return stopping(err)
			}
			return failed{err}, nil
		}
		m.served = t.Staged
	}
	m.mu.Lock()
	r := &m.rec
	r.Previous = r.Installed
	r.Installed = &Bundle{Dir: t.Staged, Version: t.Release.Version, ManifestDigest: t.Release.ManifestDigest, Path: t.Path, Rollout: t.Rollout,
		Downgrade: t.Downgrade}
	delete(r.Attempts, t.Path)
	r.WatchUntil = m.opts.Now().Add(m.opts.Watch.Window)
	r.WatchRestarts = 0
	r.LastError = ""
	m.watch = watchStats{}
	m.mu.Unlock()
	return committed{}, nil
}

func (committed) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	m.mu.Lock()
	r := &m.rec
	if r.Target != nil {
		// Just committed: the driver stored Committed with the new
		// Installed; the target is done.
		r.Target = nil
		m.prune(r)
		err := m.save()
		m.mu.Unlock()
		return nil, err
	}
	if why := m.tripped(); why != nil && r.Previous != nil {
		m.mu.Unlock()
		return rollingBack{why}, nil
	}
	now := m.opts.Now()
	if m.clampWatch(r, now) {
		if err := m.save(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	watched := now.Before(r.WatchUntil)
	offered := watched && m.rollbackOffered(r)
	if !offered && r.Failed != nil {
		// The refused rollback offer (rollbackPicked) is withdrawn.
		r.Failed = nil
		if err := m.save(); err != nil {
			m.mu.Unlock()
			return nil, err
		}
	}
	m.mu.Unlock()
	if watched && !offered {
		return nil, nil
	}
	if offered {
		// Only a check that picks the offer as the rollback to the kept
		// previous bundle ends the watch: one it refuses (another bundle
		// at that version) leaves the installed release watched.
		if ok, err := c.rollbackPicked(ctx); !ok || err != nil {
			return nil, err
		}
	}
	m.mu.Lock()
	m.rec.WatchUntil, m.rec.WatchRestarts = time.Time{}, 0
	m.mu.Unlock()
	return watchOver{}, nil
}

func (watchOver) run(context.Context, *cycle) (state, error) { return checking{}, nil }

// rollbackOffered reports whether the cloud offers the kept previous
// bundle's version, older than the installed one: by version and target
// path only, without metadata; rollbackPicked decides (m.mu held).
func (m *Manager) rollbackOffered(r *Record) bool {
	o, _, _ := m.offer()
	if o == nil || r.Previous == nil || o.Version != r.Previous.Version || (r.Previous.Path != "" && o.Target != r.Previous.Path) {
		return false
	}
	c, ok := release.CompareVersions(o.Version, r.Installed.Version)
	return ok && c < 0
}

// rollbackPicked refreshes the metadata and reports whether the check
// picks the offer as the rollback to the kept previous bundle (the same
// test as checking: its signed manifest digest is the kept bundle's). The
// session is kept for the check that follows. A refusal is logged and
// shown in LastCheck and LastError, and ends the cycle with its error; the
// record stays Committed, watched (the check after the watch refuses it as
// incompatible, as ever). Record.Failed names the refused offer meanwhile,
// so that the check-ins report the refusal to the offer's rollout (as
// incompatible) instead of a healthy commit, and the refusal is reported
// as a transition (Committed to Committed, with its error) for a check-in
// at once.
func (c *cycle) rollbackPicked(ctx context.Context) (bool, error) {
	m := c.m
	s, err := m.refresh(ctx)
	if err != nil {
		m.report(Checking, Committed, nil, err)
		return false, err
	}
	c.s = s
	offer, _, _ := m.offer()
	m.mu.Lock()
	chk, _, perr := m.pick(s, &m.rec, m.opts.Offers != nil, offer)
	if perr == nil && chk.Pick != nil && chk.Pick.Downgrade {
		m.mu.Unlock()
		return true, nil
	}
	m.lastCheck = chk
	r := &m.rec
	r.MetadataExpires = s.expires
	if perr == nil {
		err := m.save()
		m.mu.Unlock()
		return false, err
	}
	fresh := r.LastError != perr.Error()
	if fresh {
		m.log.Warn("update: the offered rollback is refused; the installed release stays watched", "installed", r.Installed.Version,
			"until", r.WatchUntil, "err", perr)
	}
	r.LastError = perr.Error()
	var refused *Target
	if offer != nil {
		r.Failed = &Failure{Path: offer.Target, Version: offer.Version, Rollout: offer.Rollout}
		refused = &Target{Path: offer.Target, Release: &release.Target{Version: offer.Version}}
	}
	err = m.save()
	m.mu.Unlock()
	if err != nil {
		return false, err
	}
	if fresh {
		m.report(Committed, Committed, refused, perr)
	}
	return false, perr
}

func (rb rollingBack) run(ctx context.Context, c *cycle) (state, error) {
	m := c.m
	m.mu.Lock()
	rec := m.rec.clone()
	m.mu.Unlock()
	// rollbackTo may load model.bundle_dir, hashing every model file
	// (seconds on flash): not under m.mu, which Observe (every window)
	// and Status (/status, /metrics, check-ins) take.
	to := m.rollbackTo(&rec)
	m.mu.Lock()
	if !sameBundle(m.rec.Installed, rec.Installed) || !sameBundle(m.rec.Previous, rec.Previous) || m.rec.State != rec.State {
		m.mu.Unlock()
		return nil, fmt.Errorf("update: rollback of %s: the update state changed while its bundle to serve was checked", rec.Installed.Dir)
	}
	bad := *m.rec.Installed
	m.mu.Unlock()
	if to != nil {
		if err := m.switchTo(to.Dir); err != nil {
			return nil, err
		}
		if m.opts.Activator != nil {
			if err := m.activate(ctx, to.Dir); err != nil {
				// The pointer is back: the next cycle activates it again
				// (reactivate), the next start serves it anyway.
				m.log.Error("update: activate previous model", "dir", to.Dir, "err", err)
			} else {
				m.served = to.Dir
			}
		}
	}
	m.mu.Lock()
	m.rollBack(rb.why, to)
	m.watch = watchStats{}
	err := m.save() // before the bad bundle goes (see recover)
	if err == nil {
		m.prune(&m.rec)
	}
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	m.report(RollingBack, Idle, &Target{Path: bad.Path, Release: &release.Target{Version: bad.Version}}, rb.why)
	return nil, rb.why
}

// sameBundle reports whether a and b name the same bundle (folder and
// manifest digest; both nil counts).
func sameBundle(a, b *Bundle) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Dir == b.Dir && a.ManifestDigest == b.ManifestDigest
}
