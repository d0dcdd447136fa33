package service

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/trendhist"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// saveTrend is what Stop does for the health trend after the windowing's
// last diagnosis.
func saveTrend(a *Agent) { a.trend.save() }

// trendAgent is an agent of cfg on the history h whose trend is not open
// yet: one just started, before its first window.
func trendAgent(cfg *config.Config, h *history.Store) *Agent {
	return &Agent{cfg: cfg, hist: h, log: slog.New(slog.DiscardHandler)}
}

// secondsRig runs n one-second windows (stride-1 sliding windows at 1 Hz,
// the SKAB testbed's) from window first on, through a's served-model
// wrapper, storing each diagnosis from window storeFrom on in the history
// as the windowing does; the pump loses 0.05 per hour from 0.95. It
// returns the last diagnosis.
//
// The tests store only the windows a start can read back: the newest
// trendhist.DefaultSeedLimit (all that a rebuild reads) and those after the
// trend file's last save (CatchUp). Older diagnoses are in the trend (or
// its file) alone, as if the history had dropped them: every Append is
// an fsync, and storing all 3 h took the two tests 44 s under -race.
func secondsRig(t *testing.T, a *Agent, first, n, storeFrom int) *diag.Diagnosis {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	health := func(s time.Time) float64 { return 0.95 - 0.05*(s.Sub(t0).Hours()+1.0/60) }
	m := a.trended(trendModel{health: health})
	var d *diag.Diagnosis
	for i := first; i < first+n; i++ {
		start := t0.Add(time.Duration(i) * time.Second)
		var err error
		d, err = m.Diagnose(&infer.Result{}, &prep.Window{Start: start}, time.Millisecond)
		require.NoError(t, err)
		d.AgentID = "agent-1"
		if i < storeFrom {
			continue
		}
		_, err = a.hist.Append(ctx, d, history.Progress{Window: start})
		require.NoError(t, err)
	}
	return d
}

// TestTrendSurvivesRestartOfFastWindows: a rig diagnosing every second
// (SKAB) restarts after 3 h; the first window after the restart has the
// remaining useful life it had before, from the whole 3 h (the trend's
// file in agent.data_dir). Rebuilt from the newest 1,024 diagnoses
// instead, the trend had 17 minutes, under the hour an estimate needs:
// no RUL for 43 minutes after every restart and model update.
func TestTrendSurvivesRestartOfFastWindows(t *testing.T) {
	h := trendHistory(t)
	cfg := &config.Config{}
	cfg.Agent.DataDir = t.TempDir()
	a := trendAgent(cfg, h)
	const n = 3 * 3600
	d := secondsRig(t, a, 0, n, n-trendhist.DefaultSeedLimit)
	require.NotNil(t, d.RUL)
	before := d.RUL.P50Hours // 0.80 at 3 h: 6 h from 0.5
	assert.InDelta(t, 6, before, 0.1)
	saveTrend(a)

	a2 := trendAgent(cfg, h)
	d2 := secondsRig(t, a2, n, 1, n)
	require.NotNil(t, d2.RUL, "no remaining useful life after a restart")
	assert.InDelta(t, before-1.0/3600, d2.RUL.P50Hours, 0.01)
}

// TestTrendSavedPeriodically: the windowing saves the trend every
// trendSaveEvery (the file 0600), so a crash loses at most that much of
// it, and the start reads the diagnoses stored since from the history:
// the estimate after the crash is the one before. A file that cannot be
// decoded is not used: the trend is rebuilt from the history (as before
// the file existed), and the file replaced at the next save.
func TestTrendSavedPeriodically(t *testing.T) {
	h := trendHistory(t)
	cfg := &config.Config{}
	cfg.Agent.DataDir = t.TempDir()
	path := filepath.Join(cfg.Agent.DataDir, TrendFile)
	a := trendAgent(cfg, h)
	// The crash after 72 minutes, 2 minutes after the last save (an
	// estimate needs an hour of trend).
	const n = 72 * 60
	d := secondsRig(t, a, 0, 1, n-trendhist.DefaultSeedLimit) // opens the trend
	require.Nil(t, d.RUL)
	// The windows' time stands in for the clock.
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a.trend.now = func() time.Time { return now }
	a.trend.saved = now
	saves := 0
	for i := 1; i < n; i++ {
		now = now.Add(time.Second)
		fi, _ := os.Stat(path)
		d = secondsRig(t, a, i, 1, n-trendhist.DefaultSeedLimit)
		if fi2, err := os.Stat(path); err == nil && (fi == nil || !fi2.ModTime().Equal(fi.ModTime()) || fi2.Size() != fi.Size()) {
			saves++
			assert.Equal(t, os.FileMode(0o600), fi2.Mode().Perm())
		}
	}
	assert.InDelta(t, float64(n)/trendSaveEvery.Seconds(), saves, 2, "a save every %s", trendSaveEvery)
	require.NotNil(t, d.RUL)

	// The crash: no save at stop.
	a2 := trendAgent(cfg, h)
	d2 := secondsRig(t, a2, n, 1, n)
	require.NotNil(t, d2.RUL)
	assert.InDelta(t, d.RUL.P50Hours-1.0/3600, d2.RUL.P50Hours, 0.01)

	// A damaged file: rebuilt from the newest diagnoses (17 minutes of
	// them, no estimate yet), and replaced at the next save.
	require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"compo`), 0o600))
	a3 := trendAgent(cfg, h)
	d3 := secondsRig(t, a3, n+1, 1, n+1)
	assert.Nil(t, d3.RUL)
	saveTrend(a3)
	_, err := readTrendFile(path)
	assert.NoError(t, err)
}
