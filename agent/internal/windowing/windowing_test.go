package windowing

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// These tests use the real buffer, history and prep with a stand-in
// model (the ONNX Runtime path is tested in agent/infer and, end to end,
// in agent/internal/service).

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// spec: sensors A, B, C at 1 Hz on a 1 Hz grid, 10-step windows.
func testSpec() prep.Spec {
	s := prep.Spec{Rules: prep.Rules, GridHz: 1, Steps: 10, Alignment: prep.AlignCycle, MaxHoldSteps: 1}
	for _, id := range []string{"A", "B", "C"} {
		s.Sensors = append(s.Sensors, prep.SensorSpec{ID: id, RateHz: 1, Mean: 0, Std: 1})
	}
	return s
}

// fakeModel diagnoses a window with what prep says about it.
type fakeModel struct {
	spec prep.Spec
	mu   sync.Mutex
	runs int
}

func (m *fakeModel) Spec() prep.Spec { return m.spec }

func (m *fakeModel) RunInto(dst *infer.Result, w *prep.Window) (time.Duration, error) {
	m.mu.Lock()
	m.runs++
	m.mu.Unlock()
	return 50 * time.Microsecond, nil
}

func (m *fakeModel) Diagnose(_ *infer.Result, w *prep.Window, took time.Duration) (*diag.Diagnosis, error) {
	cov := 0.0
	for _, c := range w.Coverage {
		cov += c
	}
	return &diag.Diagnosis{
		RigID: "rig-1", CreatedAt: time.Now(), InferenceMicros: took.Microseconds(), Status: diag.Healthy, Health: 1,
		Window: diag.Window{Start: w.Start, End: w.Start.Add(m.spec.Duration()), Steps: w.Steps,
			Coverage: cov / float64(len(w.Coverage)), Missing: append([]string(nil), w.Missing...), Stale: append([]string(nil), w.Stale...)},
	}, nil
}

type sinkFunc func(diag.Diagnosis) error

func (f sinkFunc) Enqueue(_ context.Context, d diag.Diagnosis) error { return f(d) }

type rig struct {
	buf  *buffer.Buffer
	hist *history.Store
	dir  string
}

func newRig(tb testing.TB) *rig {
	tb.Helper()
	dir := tb.TempDir()
	return openRig(tb, dir)
}

func openRig(tb testing.TB, dir string) *rig {
	tb.Helper()
	buf, err := buffer.Open(context.Background(), filepath.Join(dir, "buffer.db"), buffer.Options{Logger: quiet()})
	require.NoError(tb, err)
	hist, err := history.Open(filepath.Join(dir, "diagnoses.db"), history.Options{Logger: quiet(), MaxAge: -1})
	require.NoError(tb, err)
	r := &rig{buf: buf, hist: hist, dir: dir}
	tb.Cleanup(r.close)
	return r
}

func (r *rig) close() {
	_ = r.hist.Close()
	_ = r.buf.Close()
}

// cycle returns 1 Hz readings of sensors for seconds [from, to) of the
// window starting at start.
func cycle(start time.Time, from, to int, sensors ...string) []reading.Reading {
	var rs []reading.Reading
	for k := from; k < to; k++ {
		for _, s := range sensors {
			rs = append(rs, reading.Reading{Sensor: s, Time: start.Add(time.Duration(k)*time.Second + 100*time.Millisecond), Value: float64(k)})
		}
	}
	return rs
}

// running is a Runner in the background.
type running struct {
	r      *Runner
	cancel context.CancelFunc
	done   chan error
}

func start(tb testing.TB, rg *rig, m Model, opts Options) *running {
	tb.Helper()
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	if opts.CycleS == 0 {
		opts.CycleS = 10
	}
	if opts.Anchor.IsZero() {
		opts.Anchor = time.Unix(0, 0) // the test cycles start at multiples of 10 s
	}
	if opts.Lateness == 0 {
		opts.Lateness = 100 * time.Millisecond
	}
	r, err := New(rg.buf, m, rg.hist, opts)
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{r: r, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	tb.Cleanup(run.stop)
	return run
}

func (r *running) stop() {
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		panic("runner did not stop")
	}
	r.done <- nil // a second stop returns at once
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func all(tb testing.TB, h *history.Store) []diag.Diagnosis {
	tb.Helper()
	p, err := h.Query(context.Background(), history.Query{Limit: 1000})
	require.NoError(tb, err)
	return p.Diagnoses
}

// t0 is a window start (a multiple of 10 s since the epoch), in the past.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Minute).UTC()

func TestCycleWindowsMaskAndLate(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	var sunk []uint64
	var smu sync.Mutex
	run := start(t, rg, m, Options{AgentID: "agent-7", Sinks: []Sink{sinkFunc(func(d diag.Diagnosis) error {
		smu.Lock()
		defer smu.Unlock()
		sunk = append(sunk, d.Seq)
		return nil
	})}})
	w1, w2 := t0.Add(10*time.Second), t0.Add(20*time.Second)
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 10, "A", "B", "C")))
	require.NoError(t, rg.buf.Append(ctx, cycle(w1, 0, 10, "A", "B"))) // C missing
	// Each window's readings in one Append (one commit): the windows are
	// an hour old, so a window closes 100 ms (the lateness) after its
	// readings pause, and readings split over two Appends would race that
	// on a loaded machine.
	require.NoError(t, rg.buf.Append(ctx, append(cycle(w2, 0, 10, "A", "C"), cycle(w2, 0, 4, "B")...))) // B stale: 4 s, then nothing
	waitFor(t, "3 diagnoses", func() bool { return run.r.Stats().Diagnosed == 3 })

	ds := all(t, rg.hist)
	require.Len(t, ds, 3)
	for i, d := range ds {
		assert.Equal(t, uint64(i+1), d.Seq)
		assert.Equal(t, "agent-7", d.AgentID)
		assert.True(t, t0.Add(time.Duration(i)*10*time.Second).Equal(d.Window.Start), "window %d starts at %v", i, d.Window.Start)
	}
	assert.Empty(t, ds[0].Window.Missing)
	assert.Empty(t, ds[0].Window.Stale)
	assert.InDelta(t, 1, ds[0].Window.Coverage, 1e-9)
	assert.Equal(t, []string{"C"}, ds[1].Window.Missing, "a sensor without data is flagged, not zero-filled silently")
	assert.Equal(t, []string{"B"}, ds[2].Window.Stale)
	assert.Less(t, ds[2].Window.Coverage, 1.0)
	smu.Lock()
	assert.Equal(t, []uint64{1, 2, 3}, sunk, "sinks get every diagnosis in order")
	smu.Unlock()

	// Late readings for a closed window are counted, not diagnosed again.
	require.NoError(t, rg.buf.Append(ctx, cycle(w1, 0, 10, "C")))
	waitFor(t, "late readings counted", func() bool { return run.r.Stats().LateReadings == 10 })
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, uint64(3), run.r.Stats().Diagnosed)
	assert.Equal(t, 3, m.runs)
}

func TestRestartResumesWithoutDuplicates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rg := openRig(t, dir)
	m := &fakeModel{spec: testSpec()}
	w1, w2 := t0.Add(10*time.Second), t0.Add(20*time.Second)
	// The watermark closes window 0 (a reading of window 1 is past its end
	// plus lateness); window 1 would close only after 2 s without readings,
	// and the clock stands still (however long the machine takes before
	// the stop), so it is still open at the stop.
	frozen := w1.Add(15 * time.Second)
	run := start(t, rg, m, Options{Lateness: 2 * time.Second, Now: func() time.Time { return frozen }})
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 10, "A", "B", "C")))
	require.NoError(t, rg.buf.Append(ctx, cycle(w1, 0, 5, "A", "B", "C")))
	waitFor(t, "window 0 diagnosed", func() bool { return run.r.Stats().Diagnosed >= 1 })
	run.stop()
	require.Equal(t, 1, len(all(t, rg.hist)), "window 1 was still open at the stop")
	rg.close()

	// Restart: window 1 is rebuilt from the buffer and completed. The rest
	// is stored before the runner starts: with the lateness of 100 ms, a
	// runner started first could close window 1 from its first half.
	rg = openRig(t, dir)
	rest := append(cycle(w1, 5, 10, "A", "B", "C"), cycle(w2, 0, 10, "A", "B", "C")...)
	require.NoError(t, rg.buf.Append(ctx, rest))
	run = start(t, rg, m, Options{Lateness: 100 * time.Millisecond})
	waitFor(t, "3 diagnoses", func() bool { return len(all(t, rg.hist)) == 3 })
	ds := all(t, rg.hist)
	starts := map[time.Time]bool{}
	for i, d := range ds {
		assert.Equal(t, uint64(i+1), d.Seq, "Seq keeps increasing across the restart")
		assert.False(t, starts[d.Window.Start], "window %v diagnosed twice", d.Window.Start)
		starts[d.Window.Start] = true
	}
	assert.True(t, w1.Equal(ds[1].Window.Start))
	assert.InDelta(t, 1, ds[1].Window.Coverage, 1e-9, "readings from before the restart are in the window")
	assert.Zero(t, run.r.Stats().LateReadings, "re-scanned readings are not counted late")
}

func TestSlidingOverride(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	run := start(t, rg, m, Options{Alignment: prep.AlignSliding, StrideSteps: 5})
	assert.Equal(t, 5*time.Second, run.r.Schedule().Period)
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 30, "A", "B", "C")))
	// Windows holding data start at t0-5s, t0, ..., t0+25s.
	waitFor(t, "7 windows", func() bool { return run.r.Stats().Diagnosed == 7 })
	ds := all(t, rg.hist)
	require.Len(t, ds, 7)
	for i, d := range ds {
		assert.True(t, t0.Add(time.Duration(5*i-5)*time.Second).Equal(d.Window.Start), "window %d at %v", i, d.Window.Start)
	}
	assert.Equal(t, []string{"A", "B", "C"}, ds[0].Window.Stale, "the first window has data in its second half only")
	assert.Empty(t, ds[1].Window.Stale)
}

func TestOptionErrors(t *testing.T) {
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"stride with cycle", Options{CycleS: 10, StrideSteps: 3}, "needs sliding alignment"},
		{"window longer than cycle", Options{CycleS: 5}, "longer than the rig's 5 s cycle"},
		{"no cycle", Options{CycleS: -1}, "cycle alignment needs the rig's cycle_s"},
		{"bad alignment", Options{CycleS: 10, Alignment: "tumbling"}, `alignment "tumbling"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(rg.buf, m, rg.hist, tc.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// Cycle-aligned windows cut at whole cycles since 1970 are off a real
// rig's cycles unless told otherwise, and the bundle's diagnoses are then
// wrong without a warning: cycle alignment needs an explicit anchor
// (time.Unix(0, 0) for the epoch); sliding windows do not.
func TestCycleAlignmentNeedsAnchor(t *testing.T) {
	rg := newRig(t)
	cycleSpec := &fakeModel{spec: testSpec()}
	_, err := New(rg.buf, cycleSpec, rg.hist, Options{CycleS: 10, Logger: quiet()})
	require.ErrorIs(t, err, ErrNoAnchor, "the bundle's cycle alignment")
	assert.Contains(t, err.Error(), "windowing.cycle_anchor")
	slidingSpec := testSpec()
	slidingSpec.Alignment, slidingSpec.StrideSteps = prep.AlignSliding, 5
	_, err = New(rg.buf, &fakeModel{spec: slidingSpec}, rg.hist, Options{CycleS: 10, Alignment: prep.AlignCycle, Logger: quiet()})
	require.ErrorIs(t, err, ErrNoAnchor, "cycle alignment by option")

	_, err = New(rg.buf, &fakeModel{spec: slidingSpec}, rg.hist, Options{CycleS: 10, Logger: quiet()})
	require.NoError(t, err, "sliding windows need no anchor")
	r, err := New(rg.buf, cycleSpec, rg.hist, Options{CycleS: 10, Anchor: time.Unix(0, 0), Logger: quiet()})
	require.NoError(t, err, "the epoch, explicitly")
	assert.Equal(t, time.Unix(0, 0), r.Schedule().Anchor)
	anchor := time.Date(2026, 3, 1, 6, 0, 3, 0, time.UTC)
	r, err = New(rg.buf, cycleSpec, rg.hist, Options{CycleS: 10, Anchor: anchor, Logger: quiet()})
	require.NoError(t, err)
	assert.Equal(t, anchor, r.Schedule().Anchor)
}

// failingStore fails its first n Appends.
type failingStore struct {
	*history.Store
	mu sync.Mutex
	n  int
}

func (f *failingStore) Append(ctx context.Context, d *diag.Diagnosis, p history.Progress) (diag.Diagnosis, error) {
	f.mu.Lock()
	if f.n > 0 {
		f.n--
		f.mu.Unlock()
		return diag.Diagnosis{}, errors.New("disk full")
	}
	f.mu.Unlock()
	return f.Store.Append(ctx, d, p)
}

func TestStoreFailureIsRetried(t *testing.T) {
	retryAfterStoreFail = 10 * time.Millisecond
	t.Cleanup(func() { retryAfterStoreFail = time.Second })
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	r, err := New(rg.buf, m, &failingStore{Store: rg.hist, n: 2}, Options{CycleS: 10, Anchor: time.Unix(0, 0), Lateness: 100 * time.Millisecond, Logger: quiet()})
	require.NoError(t, err)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(rctx) }()
	t.Cleanup(func() { cancel(); <-done })
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 10, "A", "B", "C")))
	waitFor(t, "the window stored after two failures", func() bool { return r.Stats().Diagnosed == 1 })
	assert.Equal(t, uint64(2), r.Stats().StoreErrors)
	ds := all(t, rg.hist)
	require.Len(t, ds, 1)
	assert.Equal(t, uint64(1), ds[0].Seq, "a failed append uses no sequence number")
}

// With ReleaseCursor the runner moves the buffer's consumer cursor to its
// saved progress: below window 1, still open at the stop (its readings
// stay unreleased), past window 0.
func TestReleaseCursor(t *testing.T) {
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	w1 := t0.Add(10 * time.Second)
	frozen := w1.Add(15 * time.Second)
	run := start(t, rg, m, Options{Lateness: 2 * time.Second, Now: func() time.Time { return frozen }, ReleaseCursor: "windowing"})
	require.NoError(t, rg.buf.Append(ctx, cycle(t0, 0, 10, "A", "B", "C"))) // seqs 1-30
	require.NoError(t, rg.buf.Append(ctx, cycle(w1, 0, 5, "A", "B", "C")))  // seqs 31-45
	waitFor(t, "window 0 diagnosed", func() bool { return run.r.Stats().Diagnosed >= 1 })
	run.stop() // the final save moves it however little time passed
	assert.Equal(t, uint64(30), rg.buf.Cursor("windowing"), "released: window 0's readings, not window 1's")
}

// A backlog is scanned in batches with the windows due closed between
// them (scanBatch, made small here): a first start on a stored backlog
// gives the same diagnoses, each window once with all its readings, and
// never holds the backlog's windows pending at once.
func TestBacklogInBatches(t *testing.T) {
	old := scanBatch
	scanBatch = 25 // less than one window's 30 readings
	t.Cleanup(func() { scanBatch = old })
	ctx := context.Background()
	rg := newRig(t)
	m := &fakeModel{spec: testSpec()}
	const windows = 40
	for w := range windows {
		require.NoError(t, rg.buf.Append(ctx, cycle(t0.Add(time.Duration(w)*10*time.Second), 0, 10, "A", "B", "C")))
	}
	run := start(t, rg, m, Options{})
	maxPending := 0
	waitFor(t, "the backlog diagnosed", func() bool {
		st := run.r.Stats()
		maxPending = max(maxPending, st.Pending)
		return st.Diagnosed >= windows-1 // the last one closes when its lateness has passed
	})
	waitFor(t, "the last window diagnosed", func() bool { return run.r.Stats().Diagnosed == windows })
	ds := all(t, rg.hist)
	require.Len(t, ds, windows)
	for i, d := range ds {
		assert.True(t, t0.Add(time.Duration(i)*10*time.Second).Equal(d.Window.Start), "window %d starts at %v", i, d.Window.Start)
		assert.InDelta(t, 1, d.Window.Coverage, 1e-9, "window %d has all its readings", i)
	}
	assert.Zero(t, run.r.Stats().LateReadings)
	assert.Less(t, maxPending, windows/2, "the backlog's windows were not all pending at once")
}
