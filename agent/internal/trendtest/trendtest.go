// Package trendtest holds the health trend's test fixtures, shared by
// the tests of agent/trend and agent/internal/trendhist: diagnoses of a
// rig whose pump declines, and a diagnosis history to store them in.
package trendtest

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// T0 is the start of the first window.
var T0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// Window is the diagnosis of the i-th one-minute window of a rig whose
// pump has health pump and cooler health 0.95, with a recommendation on
// the pump (an anomaly the model found) and a rig-wide one.
func Window(i int, pump float64) *diag.Diagnosis {
	start := T0.Add(time.Duration(i) * time.Minute)
	return &diag.Diagnosis{
		RigID: "press-1", RigType: "zema-testrig", AgentID: "agent-1", Seq: uint64(i + 1),
		CreatedAt: start.Add(61 * time.Second),
		Window:    diag.Window{Start: start, End: start.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:     diag.ModelRef{Version: "zema-2025.03"},
		Health:    pump, Status: diag.StatusOf(pump), Components: Components(pump),
		Recommendations: []diag.Recommendation{
			{Component: "pump", Fault: "leakage", Action: "inspect the pump", Priority: diag.SeverityMedium},
			{Component: "", Fault: "unstable", Action: "check the load", Priority: diag.SeverityLow},
		},
	}
}

// Components are the rig's: the pump with health pump, the cooler with
// 0.95.
func Components(pump float64) []diag.ComponentHealth {
	return []diag.ComponentHealth{
		{ID: "pump", Health: pump, Status: diag.StatusOf(pump)},
		{ID: "cooler", Health: 0.95, Status: diag.Healthy},
	}
}

// Second is the diagnosis of the i-th one-second window of a stride-1
// sliding rig (the SKAB testbed at 1 Hz): the pump loses 0.01 per hour
// from 0.95, the cooler stays at 0.95.
func Second(i int) *diag.Diagnosis {
	end := T0.Add(time.Duration(i+1) * time.Second)
	pump := 0.95 - 0.01*float64(i+1)/3600
	return &diag.Diagnosis{
		RigID: "skab-1", Seq: uint64(i + 1), CreatedAt: end,
		Window: diag.Window{Start: end.Add(-60 * time.Second), End: end, Steps: 60, Coverage: 1},
		Health: pump, Status: diag.StatusOf(pump), Components: Components(pump),
	}
}

// Run annotates windows 0..n-1 (Window) with health(i) and returns the
// last.
func Run(tr *trend.Tracker, n int, health func(i int) float64) *diag.Diagnosis {
	var d *diag.Diagnosis
	for i := range n {
		d = Window(i, health(i))
		tr.Annotate(d)
	}
	return d
}

// RoundTrip is st through JSON, as the agent keeps it in its data dir.
func RoundTrip(t testing.TB, st trend.State) trend.State {
	t.Helper()
	b, err := json.Marshal(st)
	require.NoError(t, err)
	var out trend.State
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// OpenHistory opens a diagnosis history in the test's directory that
// keeps every diagnosis; it is closed when the test ends.
func OpenHistory(t testing.TB) *history.Store {
	t.Helper()
	h, err := history.Open(filepath.Join(t.TempDir(), "diagnoses.db"), history.Options{MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}
