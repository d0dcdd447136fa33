package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/update"
	"github.com/hydrognn/hydrognn/agent/internal/windowing"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// serving is the model the agent serves and the windowing runner that
// runs it: Activate replaces the whole, so a runner only ever runs its own
// model, and a model is closed only after its runner has stopped.
type serving struct {
	dir    string
	model  *infer.Model
	det    *persistedDetector // nil: none run
	noDet  string
	runner *windowing.Runner
	// cancel and done stop and wait for the runner (set by
	// startWindowing).
	cancel context.CancelFunc
	done   chan struct{}
}

// newServing builds the detector and the windowing runner for m, opened
// from dir. With updates, every run is fed to the watchdog
// (update.Manager.Observe). It starts nothing and closes nothing.
func (a *Agent) newServing(dir string, m *infer.Model) (*serving, error) {
	s := &serving{dir: dir, model: m}
	var err error
	s.det, s.noDet, err = openDetector(m, a.cfg.Agent.DataDir, a.stride1, a.log.With("part", "detector"))
	if err != nil {
		return nil, err
	}
	wopts := a.runnerOpts
	var wm windowing.Model = m
	if a.upd != nil {
		w := &watched{Model: m, observe: a.upd.Observe}
		wm = w
		if s.det != nil {
			wopts.Detector = watchedDetector{w: w, d: s.det}
		}
	} else if s.det != nil {
		wopts.Detector = s.det // never a typed nil in the interface
	}
	wm = a.trended(wm)
	if s.runner, err = windowing.New(a.buf, wm, a.hist, wopts); err != nil {
		return nil, fmt.Errorf("windowing (windowing.* and the bundle's input spec): %w", err)
	}
	return s, nil
}

// startWindowing runs s's runner on its own goroutine.
func (a *Agent) startWindowing(s *serving) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = a.goRunBeating("windowing", a.runnerOpts.Heartbeat, func() error { return s.runner.Run(ctx) })
}

// served is api.Options.Served: the model served now.
func (a *Agent) served() api.Served {
	s := a.cur.Load()
	sv := api.Served{Manifest: s.model.Manifest(), Model: s.model.Info(), NoDetector: s.noDet}
	if s.det != nil {
		sv.Detector = s.det
	}
	return sv
}

// servedWindowing is api.WindowingStats over the runner serving now.
type servedWindowing struct{ a *Agent }

// Stats is the serving runner's, with the counters of the runners that
// model updates retired added: they go on across updates.
func (w servedWindowing) Stats() windowing.Stats {
	return w.a.winTotals.stats(func() windowing.Stats { return w.a.cur.Load().runner.Stats() })
}

// Activate implements update.Activator: it makes the agent serve the
// bundle in dir. The new model, its detector and its runner are opened
// first; any failure there returns the error with the old model still
// serving, untouched. Then the old runner is stopped (it saves its
// progress; the new runner resumes from it), the new one started, and the
// old model closed: no runner ever runs a closed model. Activating the
// bundle already served does nothing. It fails once Stop has begun. The
// swap waits for the window being run, whatever ctx says: a runner is
// never abandoned with its model. Only Stop ends that wait: the swap then
// gives up (the new model is closed, its runner never ran) and the old
// runner, asked to stop, is Stop's to wait for, within Stop's deadline.
// swapMu is not held while waiting, so that a runner hung in RunInto
// cannot block Stop. Opening the new model (minutes with TensorRT, which
// builds its engine) is given up when ctx is done or Stop begins: the
// model is then closed when its open ends (infer.OpenContext).
func (a *Agent) Activate(ctx context.Context, dir string) error {
	a.activateMu.Lock()
	defer a.activateMu.Unlock()
	if cur := a.cur.Load(); cur != nil && cur.dir == dir {
		return nil
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stopping:
			cancel()
		case <-octx.Done():
		}
	}()
	m, err := infer.OpenContext(octx, dir, a.cfg.Firmware, ModelOptions(a.cfg, a.log.With("part", "model")))
	if err != nil {
		return fmt.Errorf("open model bundle %s: %w", dir, err)
	}
	next, err := a.newServing(dir, m)
	if err != nil {
		_ = m.Close()
		return err
	}
	errStopping := errors.New("the agent is stopping")
	a.swapMu.Lock()
	if a.windowingOff || a.stopped.Load() {
		a.swapMu.Unlock()
		_ = m.Close()
		return errStopping
	}
	old := a.cur.Load()
	old.cancel()
	a.swapMu.Unlock()
	// At most the window being run: the runner stops between windows;
	// unless the run hangs, which only Stop ends.
	select {
	case <-old.done:
	case <-a.stopping:
	}
	a.swapMu.Lock()
	if a.windowingOff || a.stopped.Load() {
		// Stop has begun: old stays the served model; Stop waits for its
		// runner and closes it once its runner has stopped.
		a.swapMu.Unlock()
		_ = m.Close()
		a.log.Warn("model activation given up: the agent is stopping", "dir", dir, "served_dir", old.dir)
		return errStopping
	}
	a.winTotals.retire(old.runner.Stats(), func() { a.cur.Store(next) })
	a.startWindowing(next)
	a.swapMu.Unlock()
	if err := old.model.Close(); err != nil {
		a.log.Warn("close the previous model", "dir", old.dir, "err", err)
	}
	man := m.Manifest()
	a.log.Info("model activated", "bundle", man.Name, "bundle_version", man.Version, "dir", dir,
		"precision", string(m.Info().Precision), "previous_dir", old.dir)
	return nil
}

// watched feeds every run of the served model to the updater's watchdog
// (update.Manager.Observe): a run is RunInto (or the detector's Run) then
// Diagnose, its latency the inference time, its error the first that
// failed. Only the windowing goroutine calls it.
type watched struct {
	*infer.Model
	observe func(time.Duration, error)
	took    time.Duration
}

// RunInto runs w; a failure is observed at once.
func (w *watched) RunInto(dst *infer.Result, win *prep.Window) (time.Duration, error) {
	took, err := w.Model.RunInto(dst, win)
	w.took = took
	if err != nil {
		w.observe(took, err)
	}
	return took, err
}

// Diagnose completes the run and observes it.
func (w *watched) Diagnose(r *infer.Result, win *prep.Window, elapsed time.Duration) (*diag.Diagnosis, error) {
	d, err := w.Model.Diagnose(r, win, elapsed)
	w.observe(w.took, err)
	return d, err
}

// watchedDetector is the detector's Run, observed like watched.RunInto.
type watchedDetector struct {
	w *watched
	d windowing.Detector
}

func (wd watchedDetector) Run(dst *infer.Result, win *prep.Window) (time.Duration, error) {
	took, err := wd.d.Run(dst, win)
	wd.w.took = took
	if err != nil {
		wd.w.observe(took, err)
	}
	return took, err
}

// linkBudget is the update's byte budget: the cloud forwarder's day cap
// when there is a cloud link (set before the updater runs), else none.
type linkBudget struct {
	mu sync.Mutex
	b  update.Budget
}

func (l *linkBudget) set(b update.Budget) {
	l.mu.Lock()
	l.b = b
	l.mu.Unlock()
}

func (l *linkBudget) get() update.Budget {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b
}

// Left implements update.Budget.
func (l *linkBudget) Left() int64 {
	if b := l.get(); b != nil {
		return b.Left()
	}
	return math.MaxInt64
}

// Spend implements update.Budget.
func (l *linkBudget) Spend(n int64) {
	if b := l.get(); b != nil {
		b.Spend(n)
	}
}

// offerBox is the updater's update.Offers: the offer of the last
// check-in answer, set by the cloud forwarder (forward.Options.Offer).
// The zero value holds no offer.
type offerBox struct {
	mu      sync.Mutex
	o       *cloudapi.Offer
	known   bool          // an answer came
	changed chan struct{} // closed when o or known changes, then replaced
}

// set stores the offer of a check-in answer (nil: none); a change (the
// first answer included) closes the channel Offer returned, which wakes
// the updater (and abandons an installation the new offer no longer
// names).
func (b *offerBox) set(o *cloudapi.Offer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.known && (o == nil && b.o == nil || o != nil && b.o != nil && *o == *b.o) {
		return
	}
	b.known = true
	if o != nil {
		c := *o
		o = &c
	}
	b.o = o
	if b.changed != nil {
		close(b.changed)
	}
	b.changed = make(chan struct{})
}

// Offer implements update.Offers.
func (b *offerBox) Offer() (*cloudapi.Offer, bool, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed == nil {
		b.changed = make(chan struct{})
	}
	return b.o, b.known, b.changed
}

var _ update.Offers = (*offerBox)(nil)

// openUpdate opens the update manager of update.* (before the model: its
// recovery decides which bundle serves), with the agent as Activator, a
// ModelCanary on recent windows of the buffer, the link's byte budget,
// and check-ins reporting its transitions.
func (a *Agent) openUpdate() (*update.Manager, error) {
	cfg := a.cfg
	o, err := update.OptionsFromConfig(cfg, a.opts.Version)
	if err != nil {
		return nil, err
	}
	log := a.log.With("part", "update")
	canary := update.CanaryFromConfig(cfg)
	canary.Options = ModelOptions(cfg, log)
	canary.Windows = &recentWindows{hist: a.hist, buf: a.buf, rigID: cfg.Firmware.Equipment.ID}
	o.Canary, o.Activator, o.Budget, o.Logger = canary, a, &a.budget, log
	o.Heartbeat = a.beater(LoopUpdate)
	if cfg.Cloud.Enabled() {
		// With a cloud link only offered releases are installed.
		o.Offers = &a.offers
	}
	o.Reporter = update.ReporterFunc(func(update.Transition) {
		if c, ok := a.fwd.(interface{ CheckinSoon() }); ok {
			c.CheckinSoon()
		}
	})
	if a.opts.UpdateOptions != nil {
		a.opts.UpdateOptions(&o)
	}
	m, err := update.Open(o)
	if err != nil {
		return nil, fmt.Errorf("model updates (update.*): %w", err)
	}
	return m, nil
}

// describe adds the served model and the update state to a check-in.
func (a *Agent) describe(r *cloudapi.CheckinRequest) {
	if s := a.cur.Load(); s != nil {
		info := s.model.Info()
		r.Model = &diag.ModelRef{Version: info.Version, Digest: info.Digest, Precision: string(info.Precision)}
	}
	if a.upd == nil {
		return
	}
	st := a.upd.Status()
	u := &cloudapi.UpdateStatus{State: string(st.State), Rollbacks: st.Rollbacks,
		LastError: cloudapi.ClipText(st.LastError, cloudapi.MaxTextLen), Changed: st.Updated.UTC()}
	if st.Installed != nil {
		u.Installed = st.Installed.Version
	}
	if st.Previous != nil {
		u.Previous = st.Previous.Version
	}
	if t := st.Target; t != nil {
		u.Target, u.Attempts = t.Path, st.Attempts[t.Path]
		if t.Release != nil {
			u.TargetVersion = t.Release.Version
		}
	} else if f := st.Failed; f != nil && (st.State == update.Failed || st.State == update.Incompatible) {
		// A failure names the release that failed (the attempt dropped
		// it), so that its rollout counts it; incompatible names the
		// offered release that does not fit this rig, so that its rollout
		// leaves the agent out.
		u.Target, u.TargetVersion, u.Attempts = f.Path, f.Version, st.Attempts[f.Path]
	}
	u.Rollout = st.Rollout
	if f := st.Failed; f != nil && st.State == update.Committed {
		// A rollback offered during the watch and refused (not the kept
		// previous bundle): told to the offer's rollout as incompatible,
		// not as a healthy commit; watch_until says the installed
		// release is still watched.
		u.State, u.Target, u.TargetVersion, u.Rollout = string(update.Incompatible), f.Path, f.Version, f.Rollout
	}
	if !st.WatchUntil.IsZero() {
		w := st.WatchUntil.UTC()
		u.WatchUntil = &w
	}
	r.Update = u
}

// recentWindows is the canary's update.Windows: the spans of the newest
// diagnoses in the history (windows the running model diagnosed, whose
// readings the buffer holds), prepared from the buffer for the spec asked
// for; a span whose readings the buffer no longer holds is left out. The
// spans a call picks are reused by calls within spanReuse, so the
// two calls of one canary (one per spec) pair up even when a new window
// closes between them.
type recentWindows struct {
	hist  *history.Store
	buf   *buffer.Buffer
	rigID string

	mu     sync.Mutex
	at     time.Time
	n      int
	starts []time.Time
}

const spanReuse = time.Minute

// Recent implements update.Windows.
func (r *recentWindows) Recent(ctx context.Context, spec prep.Spec, n int) ([]*prep.Window, error) {
	starts, err := r.spans(ctx, n)
	if err != nil {
		return nil, err
	}
	rs, err := prep.NewResampler(spec)
	if err != nil {
		return nil, err
	}
	length := spec.Duration()
	out := make([]*prep.Window, 0, len(starts))
	var chunk []reading.Reading
	for _, s := range starts {
		rs.Reset(s)
		chunk = chunk[:0]
		err := r.buf.Range(ctx, s, s.Add(length), func(rec buffer.Record) error {
			chunk = append(chunk, rec.Reading)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read window %s: %w", s.Format(time.RFC3339), err)
		}
		if len(chunk) == 0 {
			continue // its readings are gone from the buffer (caps): not a window to judge by
		}
		rs.Add(chunk)
		out = append(out, rs.Finish().Clone())
	}
	return out, nil
}

// spans returns the starts of up to n of the newest diagnosed windows,
// oldest first.
func (r *recentWindows) spans(ctx context.Context, n int) ([]time.Time, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == n && time.Since(r.at) < spanReuse {
		return r.starts, nil
	}
	page, err := r.hist.Query(ctx, history.Query{Limit: n, Desc: true})
	if err != nil {
		return nil, fmt.Errorf("recent diagnoses: %w", err)
	}
	var starts []time.Time
	for _, d := range page.Diagnoses {
		if d.RigID != "" && d.RigID != r.rigID {
			continue
		}
		starts = append(starts, d.Window.Start)
	}
	slices.Reverse(starts)
	r.at, r.n, r.starts = time.Now(), n, starts
	return starts, nil
}
