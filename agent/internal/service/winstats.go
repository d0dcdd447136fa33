package service

import (
	"sync"

	"github.com/hydrognn/hydrognn/agent/internal/windowing"
)

// windowingTotals carries the windowing's counters across model
// updates: each runner counts from its own start, and Activate replaces
// the runner, so /status and /metrics would drop to 0 after each update
// (a Prometheus counter going back). It keeps what the retired runners
// counted and adds it to the serving runner's Stats.
type windowingTotals struct {
	// mu makes a retirement and the swap of the serving runner one step
	// for readers: a read never sees the new runner without the old
	// one's counts, nor both counted twice.
	mu      sync.Mutex
	retired windowing.Stats
}

// retire adds the final Stats of a stopped runner and runs swap (which
// makes the next runner the serving one) under the same lock.
func (t *windowingTotals) retire(final windowing.Stats, swap func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retired = mergeWindowing(t.retired, final)
	swap()
}

// stats returns the serving runner's Stats (from serving) with the
// retired runners' counters added.
func (t *windowingTotals) stats(serving func() windowing.Stats) windowing.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return mergeWindowing(t.retired, serving())
}

// mergeWindowing returns cur with the counters of past added; the
// positions (cursor, last window, watermark, last diagnosis) are cur's,
// or past's where cur has none yet. Gauges and settings are cur's.
func mergeWindowing(past, cur windowing.Stats) windowing.Stats {
	out := cur
	out.Diagnosed += past.Diagnosed
	out.Failed += past.Failed
	out.StoreErrors += past.StoreErrors
	out.SinkErrors += past.SinkErrors
	out.LateReadings += past.LateReadings
	out.Scanned += past.Scanned
	if out.Cursor == 0 {
		out.Cursor = past.Cursor
	}
	if out.LastWindow.IsZero() {
		out.LastWindow = past.LastWindow
	}
	if out.Watermark.IsZero() {
		out.Watermark = past.Watermark
	}
	if out.LastSeq == 0 {
		out.LastSeq, out.LastDiagnosis = past.LastSeq, past.LastDiagnosis
	}
	return out
}
