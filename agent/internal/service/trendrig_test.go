package service

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// rigConfig is an agent config of rig id, of type rigType with
// components comps, keeping its files in dir.
func rigConfig(dir, id, rigType string, comps ...string) *config.Config {
	cfg := &config.Config{Firmware: &rig.Config{RigType: rigType, Equipment: rig.Equipment{ID: id}}}
	cfg.Agent.DataDir = dir
	for _, c := range comps {
		cfg.Firmware.Components = append(cfg.Firmware.Components, rig.Component{ID: c})
	}
	return cfg
}

// trendHistory is a new diagnosis history in a test folder.
func trendHistory(t *testing.T) *history.Store {
	t.Helper()
	h, err := history.Open(filepath.Join(t.TempDir(), "diagnoses.db"), history.Options{MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// declining is the pump's health of trendModel: 0.95 falling 0.05 per
// hour from t0.
func declining(t0 time.Time) func(time.Time) float64 {
	return func(s time.Time) float64 { return 0.95 - 0.05*(s.Sub(t0).Hours()+1.0/60) }
}

// diagnoseMinutes runs the one-minute windows [first, first+n) of rig
// (its firmware config's id and type) through a's served-model wrapper,
// storing each diagnosis, and returns the last.
func diagnoseMinutes(t *testing.T, a *Agent, t0 time.Time, first, n int) *diag.Diagnosis {
	t.Helper()
	m := a.trended(trendModel{health: declining(t0), rig: a.cfg.Firmware.Equipment.ID, rigType: a.cfg.Firmware.RigType})
	var d *diag.Diagnosis
	for i := first; i < first+n; i++ {
		start := t0.Add(time.Duration(i) * time.Minute)
		var err error
		d, err = m.Diagnose(&infer.Result{}, &prep.Window{Start: start}, time.Millisecond)
		require.NoError(t, err)
		d.AgentID = "agent-1"
		_, err = a.hist.Append(context.Background(), d, history.Progress{Window: start})
		require.NoError(t, err)
	}
	return d
}

// unlabel rewrites the trend file at path as an agent before it recorded
// its rig wrote it: the trend alone.
func unlabel(t *testing.T, path string) {
	f, err := readTrendFile(path)
	require.NoError(t, err)
	require.NoError(t, writeFileAtomic(path, f.State))
}

// TestTrendFileOfAnotherRig: the trend file records the rig it is of
// (id, type, component ids). A second agent on the same agent.data_dir
// (a restart, sharing the first's diagnosis history, or a new history)
// does not use the file of another rig id or rig type, a file that names
// no rig (an agent before this) unless the newest stored diagnosis is its
// rig's, or one that cannot be read or decoded: it starts all the same,
// logs a warning saying why, and its next save replaces the file with its
// own rig's. The same rig restores it, and with another component set
// keeps the components it still has: the file and the rebuild from the
// history follow the same rule.
func TestTrendFileOfAnotherRig(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		// id, rigType and comps are the second agent's rig; shared, that
		// it has the first's diagnosis history (a restart) instead of a
		// new, empty one; damage, when set, changes the file before it
		// starts.
		id, rigType string
		comps       []string
		shared      bool
		damage      func(t *testing.T, path string)
		// rul: the second agent's first diagnosis has the pump's RUL;
		// reason, when set, is the warning's (the file not used), and
		// want is in the log.
		rul          bool
		reason, want string
	}{
		{name: "same rig", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"}, rul: true,
			want: "health trend restored"},
		{name: "other rig id", id: "press-2", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			reason: "other_rig", want: `of rig "press-1", this agent's is "press-2"`},
		{name: "other rig id, shared history", id: "press-2", rigType: "zema-testrig", comps: []string{"pump", "cooler"}, shared: true,
			reason: "other_rig", want: `of rig "press-1", this agent's is "press-2"`},
		{name: "other rig type", id: "press-1", rigType: "skab-testbed", comps: []string{"pump", "cooler"},
			reason: "other_rig", want: `of rig type "zema-testrig", this rig's is "skab-testbed"`},
		// The same rig with a changed component set, restarted: the file
		// is restored for the components it still has.
		{name: "other components", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "valve"}, shared: true, rul: true,
			want: "health trend restored"},
		// The pump is gone: neither the file nor the history gives it a
		// trend.
		{name: "pump removed", id: "press-1", rigType: "zema-testrig", comps: []string{"cooler", "valve"}, shared: true,
			want: "dropped=[pump]"},
		{name: "names no rig, history of this rig", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			shared: true, damage: unlabel, rul: true, want: "names no rig (written by an earlier agent): restoring it"},
		{name: "names no rig, empty history", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			damage: unlabel, reason: "unlabelled", want: "the diagnosis history holds none"},
		{name: "names no rig, history of another rig", id: "press-2", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			shared: true, damage: unlabel, reason: "unlabelled", want: `the newest stored diagnosis is of rig "press-1"`},
		{name: "damaged", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			damage: func(t *testing.T, path string) {
				require.NoError(t, os.WriteFile(path, []byte(`{"version":1,"rig_id":"press-1","compo`), 0o600))
			},
			reason: "unusable", want: "decode"},
		{name: "empty", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			damage: func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, nil, 0o600)) },
			reason: "unusable", want: "unexpected end of JSON input"},
		{name: "out of bounds", id: "press-1", rigType: "zema-testrig", comps: []string{"pump", "cooler"},
			damage: func(t *testing.T, path string) {
				f, err := readTrendFile(path)
				require.NoError(t, err)
				f.Components[0].Health[0] = 2
				require.NoError(t, writeFileAtomic(path, f))
			},
			reason: "unusable", want: "not in [0, 1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, TrendFile)
			a := &Agent{cfg: rigConfig(dir, "press-1", "zema-testrig", "pump", "cooler"), hist: trendHistory(t), log: slog.New(slog.DiscardHandler)}
			d := diagnoseMinutes(t, a, t0, 0, 240)
			require.NotNil(t, d.RUL)
			saveTrend(a)
			f, err := readTrendFile(path)
			require.NoError(t, err)
			assert.Equal(t, "press-1", f.RigID)
			assert.Equal(t, "zema-testrig", f.RigType)
			assert.Equal(t, []string{"pump", "cooler"}, f.ComponentSet)
			if tc.damage != nil {
				tc.damage(t, path)
			}

			hist := trendHistory(t)
			if tc.shared {
				hist = a.hist
			}
			var logs bytes.Buffer
			b := &Agent{cfg: rigConfig(dir, tc.id, tc.rigType, tc.comps...), hist: hist,
				log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
			d2 := diagnoseMinutes(t, b, t0, 240, 1)
			got := strings.ReplaceAll(logs.String(), `\"`, `"`)
			assert.Contains(t, got, tc.want)
			if tc.rul {
				require.NotNil(t, d2.RUL, "the rig's own trend restored")
				assert.InDelta(t, d.RUL.P50Hours-1.0/60, d2.RUL.P50Hours, 0.1)
			} else {
				assert.Nil(t, d2.RUL, "a trend of another rig, of a component the rig no longer has, or a bad file mixed in")
			}
			if tc.reason == "" {
				assert.NotContains(t, got, "level=WARN")
			} else {
				assert.Contains(t, got, `level=WARN msg="health trend file not used`)
				assert.Contains(t, got, "reason="+tc.reason)
			}
			saveTrend(b)
			f, err = readTrendFile(path)
			require.NoError(t, err, "the file saved with the second agent's rig")
			assert.Equal(t, tc.id, f.RigID)
			assert.Equal(t, tc.rigType, f.RigType)
			assert.Equal(t, tc.comps, f.ComponentSet)
			for _, c := range f.Components {
				assert.Contains(t, tc.comps, c.ID, "a component the rig does not have saved")
			}
		})
	}
}

// TestTrendUnreadableFile: a trend file the agent cannot read (here a
// folder in its place) is not used and does not fail the start; the
// saves that cannot replace it are logged.
func TestTrendUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, TrendFile), 0o700))
	var logs bytes.Buffer
	a := &Agent{cfg: rigConfig(dir, "press-1", "zema-testrig", "pump"), hist: trendHistory(t),
		log: slog.New(slog.NewTextHandler(&logs, nil))}
	d := diagnoseMinutes(t, a, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), 0, 1)
	assert.Nil(t, d.RUL)
	assert.Contains(t, logs.String(), "health trend file not used")
	assert.Contains(t, logs.String(), "reason=unusable")
	saveTrend(a)
	assert.Contains(t, logs.String(), "health trend not saved")
}

// TestTrendSeedSkipsOtherRigs: without a trend file, the trend is rebuilt
// from the stored diagnoses of this rig only: a history left by another
// rig in a reused agent.data_dir gives it nothing.
func TestTrendSeedSkipsOtherRigs(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	h := trendHistory(t)
	a := &Agent{cfg: rigConfig(t.TempDir(), "press-1", "zema-testrig", "pump"), hist: h, log: slog.New(slog.DiscardHandler)}
	require.NotNil(t, diagnoseMinutes(t, a, t0, 0, 240).RUL)

	for _, c := range []struct{ name, id, rigType string }{
		{"other rig id", "press-2", "zema-testrig"},
		{"other rig type", "press-1", "skab-testbed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &Agent{cfg: rigConfig(t.TempDir(), c.id, c.rigType, "pump"), hist: h, log: slog.New(slog.DiscardHandler)}
			assert.Nil(t, diagnoseMinutes(t, b, t0, 240, 1).RUL, "another rig's diagnoses seeded the trend")
		})
	}
	// The same rig, no file: rebuilt from its diagnoses.
	c := &Agent{cfg: rigConfig(t.TempDir(), "press-1", "zema-testrig", "pump"), hist: h, log: slog.New(slog.DiscardHandler)}
	assert.NotNil(t, diagnoseMinutes(t, c, t0, 241, 1).RUL)
}
