package windowing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// Source is the reading buffer, as the runner uses it; *buffer.Buffer is
// one. A Source with an ID method (*buffer.Buffer) has its ID recorded in
// the progress (history.Progress.Buffer), so that a progress saved on
// another buffer file is not resumed from.
type Source interface {
	Scan(ctx context.Context, after uint64, fn func(buffer.Record) error) error
	Range(ctx context.Context, from, to time.Time, fn func(buffer.Record) error) error
	Wait(ctx context.Context, after uint64) error
	LastSeq() uint64
}

// Model runs one prepared window; *infer.Model is one.
type Model interface {
	Spec() prep.Spec
	RunInto(dst *infer.Result, w *prep.Window) (time.Duration, error)
	Diagnose(r *infer.Result, w *prep.Window, elapsed time.Duration) (*diag.Diagnosis, error)
}

// Detector runs one prepared window, keeping state from window to
// window; *infer.Detector is one.
type Detector interface {
	Run(dst *infer.Result, w *prep.Window) (time.Duration, error)
}

// Store numbers and keeps diagnoses with the runner's progress;
// *history.Store is one.
type Store interface {
	Append(ctx context.Context, d *diag.Diagnosis, p history.Progress) (diag.Diagnosis, error)
	SetProgress(ctx context.Context, p history.Progress) error
	Progress() history.Progress
}

// Sink receives every stored diagnosis, in Seq order: the MQTT publisher,
// the cloud forwarder. Enqueue should return quickly (queue, don't send);
// an error is counted and logged, and the windowing goes on.
type Sink interface {
	Enqueue(ctx context.Context, d diag.Diagnosis) error
}

// Defaults of Options.
const (
	DefaultLateness = 2 * time.Second
	DefaultMaxPoll  = time.Second
	DefaultMinPoll  = 20 * time.Millisecond
	progressEvery   = 10 * time.Second
	logEvery        = 30 * time.Second
	rangeChunk      = 4096
)

// retryAfterStoreFail is the wait before a window whose diagnosis could
// not be stored is tried again (a variable for tests).
var retryAfterStoreFail = time.Second

// ErrNoAnchor is New's error for cycle-aligned windows (the bundle's, or
// Options.Alignment) without Options.Anchor. Windows cut at multiples of
// the cycle since 1970 match a real rig's cycles only by chance, and a
// bundle trained on cycle-aligned windows is wrong without a warning when
// they don't (an offset of 1 s takes the UCI bundle's accuracy down to
// 7-56 %).
var ErrNoAnchor = errors.New("windowing: the windows are cycle-aligned (the model bundle's input spec, or windowing.alignment: cycle) " +
	"but no cycle anchor is set: the bundle is judged on windows aligned to the rig's load cycle, and windows cut at " +
	"whole cycles since 1970 are off the rig's cycles unless they happen to start there (1 s off is enough to make " +
	"the diagnoses wrong); set windowing.cycle_anchor to the RFC 3339 time of one cycle start, or to \"epoch\" when the " +
	"rig's cycles start at whole multiples of the cycle length since the Unix epoch (rigsim)")

// Options configure a Runner. Zero values mean the stated defaults.
type Options struct {
	// AgentID is written into every diagnosis.
	AgentID string
	// Alignment overrides the bundle's ("" keeps it).
	Alignment prep.Alignment
	// StrideSteps overrides the sliding stride in grid cells (0: the
	// bundle's, or the window length when the bundle is cycle-aligned).
	StrideSteps int
	// CycleS is the rig's cycle in seconds (rig.Operation.CycleS), needed
	// for cycle alignment.
	CycleS float64
	// Anchor is a time at which a load cycle starts: cycle-aligned
	// windows start at it plus whole cycles. Required with cycle
	// alignment (New refuses the zero time, see ErrNoAnchor);
	// time.Unix(0, 0) puts the starts at whole multiples of the cycle
	// since the Unix epoch, as rigsim's cycles. Sliding windows start at
	// it plus whole strides (zero: the Unix epoch).
	Anchor time.Time
	// Lateness is how long after a window's end the runner waits for late
	// readings (0: DefaultLateness; negative: no wait).
	Lateness time.Duration
	// Sinks receive every stored diagnosis, in order.
	Sinks []Sink
	// Detector, when set, runs every window instead of Model.RunInto: a
	// stateful detector over consecutive windows (*infer.Detector, for a
	// bundle trained by models/skab). nil: Model.RunInto. Called on the
	// runner's goroutine only.
	Detector Detector
	// OnInference receives each window's inference time (for a latency
	// histogram); nil: none. Called on the runner's goroutine.
	OnInference func(time.Duration)
	// OnInferenceCPU receives each window's inference CPU time
	// (infer.Result.RunCPU: the thread's CPU time in the same ONNX
	// Runtime call, without the time it waited for a core) when it was
	// measured (a model opened with infer.Options.RunCPU); nil: none.
	// Called on the runner's goroutine.
	OnInferenceCPU func(time.Duration)
	// ReleaseCursor names the Source's consumer cursor (buffer.Options
	// .Consumers) that the runner moves to its saved progress, at most
	// every few seconds: readings below every pending window count as
	// released, so a cap removes readings not yet windowed only as a
	// counted loss. "" (or a Source without SetCursor): none.
	ReleaseCursor string
	// Logger (nil: slog.Default()) and Now (nil: time.Now).
	Logger *slog.Logger
	Now    func() time.Time
	// Heartbeat is beaten by Run at every pass (at least every
	// DefaultMaxPoll while idle) and before each window it diagnoses, and
	// on its behalf while a Detector that is calibrating (a method
	// Calibrating() bool that says so, as *infer.Detector has) runs a
	// window, up to liveness.ModelOpenBound: the window that completes
	// the calibration runs a batch over every calibration window. A model
	// run, a sink or a store call that does not return stops the beats
	// (nil: none).
	Heartbeat *liveness.Beater
}

// Stats is a snapshot of the runner.
type Stats struct {
	// Diagnosed counts windows diagnosed and stored since start; Failed
	// windows given up on (preparation or inference failed); StoreErrors
	// failed history writes (retried); SinkErrors failed Enqueue calls.
	Diagnosed, Failed, StoreErrors, SinkErrors uint64
	// LateReadings counts readings that arrived for a window already
	// closed (since start; readings re-scanned after a restart are not
	// counted), each once however many closed windows it falls in.
	LateReadings uint64
	// Scanned counts readings scanned since start; Cursor is the last
	// buffer sequence number scanned.
	Scanned, Cursor uint64
	// Pending is the number of open windows; LastWindow the start of the
	// last window closed; Watermark the newest reading time seen.
	Pending    int
	LastWindow time.Time
	Watermark  time.Time
	// LastSeq and LastDiagnosis are the Seq and the time of the newest
	// diagnosis made since start (0, zero: none yet).
	LastSeq       uint64
	LastDiagnosis time.Time
	// Schedule is the window schedule in use.
	Schedule prep.Schedule
	// Alignment is the alignment in use.
	Alignment prep.Alignment
}

// pending is an open window.
type pending struct {
	start    time.Time
	firstSeq uint64    // the first buffer record that touched it
	touched  time.Time // wall-clock time of the last reading scanned for it
	readings int
}

// Runner follows the buffer and diagnoses windows. Build it with New.
type Runner struct {
	src   Source
	model Model
	store Store
	opts  Options
	log   *slog.Logger
	sc    prep.Schedule
	align prep.Alignment
	rs    *prep.Resampler

	// owned by Run's goroutine
	pend      map[int64]*pending
	scanned   uint64
	startSeq  uint64 // buffer LastSeq when Run started
	high      time.Time
	watermark time.Time
	result    infer.Result
	chunk     []reading.Reading
	saved     history.Progress
	// bufID is the Source's ID ("" without one), recorded in every
	// progress saved.
	bufID string
	// releasedTo is where ReleaseCursor was last moved, at releasedAt.
	releasedTo uint64
	releasedAt time.Time
	savedAt    time.Time
	lastLog    map[string]time.Time

	mu sync.Mutex
	st Stats
}

// New checks the options against the model's input spec and returns a
// Runner. It starts nothing.
func New(src Source, m Model, st Store, opts Options) (*Runner, error) {
	if src == nil || m == nil || st == nil {
		return nil, errors.New("windowing: nil source, model or store")
	}
	if opts.Lateness == 0 {
		opts.Lateness = DefaultLateness
	}
	if opts.Lateness < 0 {
		opts.Lateness = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	spec := m.Spec()
	rs, err := prep.NewResampler(spec)
	if err != nil {
		return nil, fmt.Errorf("windowing: %w", err)
	}
	sc, align, err := schedule(spec, opts)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		src: src, model: m, store: st, opts: opts, log: opts.Logger, sc: sc, align: align, rs: rs,
		pend: map[int64]*pending{}, lastLog: map[string]time.Time{},
	}
	r.st.Schedule, r.st.Alignment = sc, align
	return r, nil
}

// Check returns New's error, if any, for windows of the input spec spec
// cut with opts' Alignment, StrideSteps, CycleS and Anchor (ErrNoAnchor
// among them), without a source, model or store: rig-agent --check runs
// it on the installed bundle's spec.
func Check(spec prep.Spec, opts Options) error {
	_, _, err := schedule(spec, opts)
	return err
}

// schedule checks opts against spec and returns the window schedule and
// its alignment.
func schedule(spec prep.Spec, opts Options) (prep.Schedule, prep.Alignment, error) {
	ws := spec
	switch opts.Alignment {
	case "":
	case prep.AlignCycle:
		ws.Alignment, ws.StrideSteps = prep.AlignCycle, 0
	case prep.AlignSliding:
		if ws.Alignment != prep.AlignSliding {
			ws.StrideSteps = ws.Steps
		}
		ws.Alignment = prep.AlignSliding
	default:
		return prep.Schedule{}, "", fmt.Errorf("windowing: alignment %q: want %q, %q or empty (the bundle's)", opts.Alignment, prep.AlignCycle, prep.AlignSliding)
	}
	if opts.StrideSteps != 0 {
		if ws.Alignment != prep.AlignSliding {
			return prep.Schedule{}, "", fmt.Errorf("windowing: a stride of %d steps needs sliding alignment, the windows are %q", opts.StrideSteps, ws.Alignment)
		}
		ws.StrideSteps = opts.StrideSteps
	}
	sc, err := prep.Windows(ws, opts.CycleS)
	if err != nil {
		return prep.Schedule{}, "", fmt.Errorf("windowing: %w", err)
	}
	if ws.Alignment == prep.AlignCycle && opts.Anchor.IsZero() {
		return prep.Schedule{}, "", ErrNoAnchor
	}
	sc.Anchor = opts.Anchor
	return sc, ws.Alignment, nil
}

// Schedule returns the window schedule in use.
func (r *Runner) Schedule() prep.Schedule { return r.sc }

// Stats returns a snapshot.
func (r *Runner) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

// Run follows the buffer until ctx is done, then saves its progress and
// returns nil. It returns an error only when the buffer cannot be read
// (closed or damaged).
func (r *Runner) Run(ctx context.Context) error {
	p := r.store.Progress()
	r.scanned, r.high = p.Cursor, p.Window
	r.saved = p
	r.startSeq = r.src.LastSeq()
	if ids, ok := r.src.(identified); ok {
		r.bufID = ids.ID()
	}
	if (p.Buffer != "" && r.bufID != "" && p.Buffer != r.bufID) || p.Cursor > r.startSeq {
		// A new buffer file (the damaged one moved aside) numbers its
		// readings from 1: the saved cursor counts in another file's
		// numbering, and resuming from it would skip the new readings
		// until there are more of them. Windows up to p.Window stay
		// diagnosed.
		r.log.Warn("the reading buffer is not the one the windowing's progress was saved on (a new buffer file?): "+
			"scanning it from its first reading; windows up to last_window are not diagnosed again",
			"saved_buffer", p.Buffer, "buffer", r.bufID, "saved_cursor", p.Cursor, "buffer_last_seq", r.startSeq,
			"last_window", p.Window)
		r.scanned = 0
	}
	r.log.Info("windowing started", "alignment", string(r.align), "period", r.sc.Period.String(),
		"length", r.sc.Length.String(), "lateness", r.opts.Lateness.String(), "resume_cursor", p.Cursor,
		"last_window", p.Window)
	defer r.saveProgress(true)
	for {
		r.opts.Heartbeat.Beat()
		if err := r.scan(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("windowing: read buffer: %w", err)
		}
		r.closeDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.saveProgress(false)
		wctx, cancel := context.WithTimeout(ctx, r.pollInterval())
		err := r.src.Wait(wctx, r.scanned)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("windowing: wait for readings: %w", err)
		}
	}
}

func (r *Runner) pollInterval() time.Duration {
	return min(max(r.opts.Lateness/4, DefaultMinPoll), DefaultMaxPoll)
}

// scanBatch bounds the readings of one scan: between scans the runner
// closes the windows due, so a long backlog (a first start on a full
// buffer, a catch-up after an outage) never holds all its windows pending
// at once, and progress is saved as it goes. A variable for tests.
var scanBatch uint64 = 1 << 16

// scan marks the windows of up to scanBatch new readings as pending.
func (r *Runner) scan(ctx context.Context) error {
	now := r.opts.Now()
	var late, n uint64
	err := r.src.Scan(ctx, r.scanned, func(rec buffer.Record) error {
		t := rec.Reading.Time
		if t.After(r.watermark) {
			r.watermark = t
		}
		missed := false // a window of the reading was closed already
		r.starts(t, func(s time.Time) {
			if !r.high.IsZero() && !s.After(r.high) {
				missed = true
				return
			}
			k := s.UnixNano()
			p := r.pend[k]
			if p == nil {
				p = &pending{start: s, firstSeq: rec.Seq}
				r.pend[k] = p
			}
			p.touched = now
			p.readings++
		})
		if missed && rec.Seq > r.startSeq {
			late++ // once per reading, however many windows it missed
		}
		r.scanned = rec.Seq
		n++
		if n >= scanBatch {
			return buffer.ErrStop // the rest after closing what is due
		}
		return nil
	})
	r.mu.Lock()
	r.st.LateReadings += late
	r.st.Scanned += n
	r.st.Cursor = r.scanned
	r.st.Pending = len(r.pend)
	r.st.Watermark = r.watermark
	r.mu.Unlock()
	return err
}

// starts calls fn with the start of every window that contains t.
func (r *Runner) starts(t time.Time, fn func(time.Time)) {
	a := r.sc.Anchor
	if a.IsZero() {
		a = time.Unix(0, 0)
	}
	d, p := t.Sub(a), r.sc.Period
	k := d / p
	if d%p < 0 {
		k--
	}
	for s := a.Add(k * p); t.Before(s.Add(r.sc.Length)); s = s.Add(-p) {
		fn(s)
	}
}

// closeDue diagnoses, in start order, the pending windows that are due.
func (r *Runner) closeDue(ctx context.Context) {
	if len(r.pend) == 0 {
		return
	}
	order := make([]*pending, 0, len(r.pend))
	for _, p := range r.pend {
		order = append(order, p)
	}
	slices.SortFunc(order, func(a, b *pending) int { return a.start.Compare(b.start) })
	for _, p := range order {
		if ctx.Err() != nil {
			return
		}
		now := r.opts.Now()
		end := p.start.Add(r.sc.Length)
		due := !r.watermark.Before(end.Add(r.opts.Lateness)) ||
			(!now.Before(end.Add(r.opts.Lateness)) && now.Sub(p.touched) >= r.opts.Lateness)
		if !due {
			return // later windows end later: keep the order
		}
		r.opts.Heartbeat.Beat()
		if !r.diagnose(ctx, p) {
			return // store failed: retry on a later pass
		}
	}
}

// cursorWithout returns the progress cursor once p is closed: below the
// first reading of every other pending window.
func (r *Runner) cursorWithout(p *pending) uint64 {
	c := r.scanned
	for _, q := range r.pend {
		if q != p && q.firstSeq-1 < c {
			c = q.firstSeq - 1
		}
	}
	return c
}

// diagnose prepares, runs and stores window p. It returns false when the
// history could not store it (the window stays pending).
func (r *Runner) diagnose(ctx context.Context, p *pending) bool {
	end := p.start.Add(r.sc.Length)
	prog := history.Progress{Cursor: r.cursorWithout(p), Window: p.start, Buffer: r.bufID}
	d, took, err := r.infer(ctx, p.start, end)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		r.rateLog("window_failed", "window could not be diagnosed", "start", p.start, "err", err)
		r.mu.Lock()
		r.st.Failed++
		r.mu.Unlock()
		if err := r.store.SetProgress(ctx, prog); err != nil {
			r.storeFailed(ctx, err)
			return false
		}
		r.closed(p, prog)
		return true
	}
	if r.opts.OnInference != nil {
		r.opts.OnInference(took)
	}
	if r.opts.OnInferenceCPU != nil && r.result.RunCPU > 0 {
		r.opts.OnInferenceCPU(r.result.RunCPU)
	}
	d.AgentID = r.opts.AgentID
	stored, err := r.store.Append(ctx, d, prog)
	if err != nil {
		r.storeFailed(ctx, err)
		return false
	}
	r.closed(p, prog)
	r.mu.Lock()
	r.st.Diagnosed++
	r.st.LastSeq = stored.Seq
	r.st.LastDiagnosis = stored.CreatedAt
	r.mu.Unlock()
	r.log.Debug("window diagnosed", "seq", stored.Seq, "start", p.start, "status", string(stored.Status),
		"coverage", stored.Window.Coverage, "missing", stored.Window.Missing, "stale", stored.Window.Stale,
		"inference_us", stored.InferenceMicros)
	for _, s := range r.opts.Sinks {
		if err := s.Enqueue(ctx, stored); err != nil {
			r.mu.Lock()
			r.st.SinkErrors++
			r.mu.Unlock()
			r.rateLog(fmt.Sprintf("sink_%T", s), "diagnosis sink failed", "sink", fmt.Sprintf("%T", s), "seq", stored.Seq, "err", err)
		}
	}
	return true
}

func (r *Runner) closed(p *pending, prog history.Progress) {
	delete(r.pend, p.start.UnixNano())
	r.high = p.start
	r.saved, r.savedAt = prog, r.opts.Now()
	r.release(false)
	r.mu.Lock()
	r.st.Pending = len(r.pend)
	r.st.LastWindow = p.start
	r.mu.Unlock()
}

func (r *Runner) storeFailed(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping: the window is rebuilt at the next start
	}
	r.mu.Lock()
	r.st.StoreErrors++
	r.mu.Unlock()
	r.rateLog("store_failed", "diagnosis history write failed; the window is retried", "err", err)
	t := time.NewTimer(retryAfterStoreFail)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// infer reads the window's readings from the buffer, prepares and runs it.
func (r *Runner) infer(ctx context.Context, start, end time.Time) (*diag.Diagnosis, time.Duration, error) {
	r.rs.Reset(start)
	r.chunk = r.chunk[:0]
	err := r.src.Range(ctx, start, end, func(rec buffer.Record) error {
		r.chunk = append(r.chunk, rec.Reading)
		if len(r.chunk) == rangeChunk {
			r.rs.Add(r.chunk)
			r.chunk = r.chunk[:0]
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read window: %w", err)
	}
	r.rs.Add(r.chunk)
	w := r.rs.Finish()
	var took time.Duration
	r.result.RunCPU = 0 // set by RunInto only
	if r.opts.Detector != nil {
		// The window that completes a detector's calibration runs the
		// model over every calibration window in batches; under TensorRT
		// the batch session's engine is built first, minutes on a
		// Jetson. Beaten for while calibrating, up to
		// liveness.ModelOpenBound.
		end := func() {}
		if c, ok := r.opts.Detector.(interface{ Calibrating() bool }); ok && c.Calibrating() {
			end = r.opts.Heartbeat.Cover(liveness.ModelOpenBound)
		}
		took, err = r.opts.Detector.Run(&r.result, w)
		end()
	} else {
		took, err = r.model.RunInto(&r.result, w)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("inference: %w", err)
	}
	d, err := r.model.Diagnose(&r.result, w, took)
	if err != nil {
		return nil, 0, fmt.Errorf("diagnose: %w", err)
	}
	return d, took, nil
}

// saveProgress stores the cursor when it moved without a diagnosis (no
// window closed for a while), at most every progressEvery unless final.
func (r *Runner) saveProgress(final bool) {
	c := r.scanned
	for _, q := range r.pend {
		c = min(c, q.firstSeq-1)
	}
	p := history.Progress{Cursor: c, Window: r.high, Buffer: r.bufID}
	if (p.Cursor == r.saved.Cursor && p.Window.Equal(r.saved.Window) && p.Buffer == r.saved.Buffer) || (!final && r.opts.Now().Sub(r.savedAt) < progressEvery) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.store.SetProgress(ctx, p); err != nil {
		r.rateLog("progress_failed", "windowing progress not saved", "err", err)
		return
	}
	r.saved, r.savedAt = p, r.opts.Now()
	r.release(final)
}

// identified is a Source with an identity (*buffer.Buffer): the ID of its
// data file, new when a new file numbers its readings from 1 again.
type identified interface{ ID() string }

// cursorSetter is a Source with consumer cursors (*buffer.Buffer).
type cursorSetter interface {
	SetCursor(ctx context.Context, name string, seq uint64) error
}

// release moves Options.ReleaseCursor to the saved progress's cursor,
// when it moved on and (unless final) progressEvery has passed since the
// last move: each move is a commit of the buffer.
func (r *Runner) release(final bool) {
	c := r.saved.Cursor
	cs, ok := r.src.(cursorSetter)
	if !ok || r.opts.ReleaseCursor == "" || c <= r.releasedTo || (!final && r.opts.Now().Sub(r.releasedAt) < progressEvery) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cs.SetCursor(ctx, r.opts.ReleaseCursor, c); err != nil {
		r.rateLog("release_failed", "windowing's buffer cursor not moved", "cursor", r.opts.ReleaseCursor, "err", err)
		return
	}
	r.releasedTo, r.releasedAt = c, r.opts.Now()
}

func (r *Runner) rateLog(key, msg string, args ...any) {
	now := r.opts.Now()
	if now.Sub(r.lastLog[key]) < logEvery {
		return
	}
	r.lastLog[key] = now
	r.log.Warn(msg, args...)
}

// compile-time checks against the real parts.
var (
	_ Source = (*buffer.Buffer)(nil)
	_ Model  = (*infer.Model)(nil)
	_ Store  = (*history.Store)(nil)

	_ identified = (*buffer.Buffer)(nil)
)
