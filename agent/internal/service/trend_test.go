package service

import (
	"cmp"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/infer"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
)

// trendModel is a windowing.Model whose Diagnose returns the diagnosis of
// the window starting at w.Start, with the pump's health health(start).
type trendModel struct {
	health func(start time.Time) float64
	// rig and rigType are the diagnoses' rig (empty: "press-1",
	// "zema-testrig").
	rig, rigType string
}

func (trendModel) Spec() prep.Spec { return prep.Spec{} }
func (trendModel) RunInto(*infer.Result, *prep.Window) (time.Duration, error) {
	return time.Millisecond, nil
}
func (m trendModel) Diagnose(_ *infer.Result, w *prep.Window, _ time.Duration) (*diag.Diagnosis, error) {
	h := m.health(w.Start)
	rigID, rigType := cmp.Or(m.rig, "press-1"), cmp.Or(m.rigType, "zema-testrig")
	return &diag.Diagnosis{
		RigID: rigID, RigType: rigType, CreatedAt: w.Start.Add(61 * time.Second),
		Window: diag.Window{Start: w.Start, End: w.Start.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:  diag.ModelRef{Version: "zema-2025.03"}, Health: h, Status: diag.StatusOf(h),
		Components: []diag.ComponentHealth{{ID: "pump", Health: h, Status: diag.StatusOf(h)}},
		Recommendations: []diag.Recommendation{{Component: "pump", Fault: "leakage", Action: "inspect the pump",
			Priority: diag.SeverityMedium}},
	}, nil
}

// TestTrendedDiagnoses runs 4 h of one-minute windows through the served
// model's wrapper: a declining pump gets a remaining useful life and days
// to failure, a stable one none; and a wrapper built for a restart (or a
// model update) rebuilds the trend from the diagnoses stored.
func TestTrendedDiagnoses(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	hours := func(s time.Time) float64 { return s.Sub(t0).Hours() }
	for _, c := range []struct {
		name   string
		health func(time.Time) float64
		// p50 is the expected median hours left at the end (0: none).
		p50 float64
	}{
		// 0.95 falling 0.05 per hour: 0.75 after 4 h, 5 h from 0.5.
		{"declining", func(s time.Time) float64 { return 0.95 - 0.05*(hours(s)+1.0/60) }, 5},
		{"stable", func(time.Time) float64 { return 0.93 }, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			h := trendHistory(t)
			cfg := &config.Config{}
			cfg.Agent.DataDir = t.TempDir()
			a := trendAgent(cfg, h)
			m := a.trended(trendModel{health: c.health})
			var d *diag.Diagnosis
			var err error
			for i := range 240 {
				start := t0.Add(time.Duration(i) * time.Minute)
				d, err = m.Diagnose(&infer.Result{}, &prep.Window{Start: start}, time.Millisecond)
				require.NoError(t, err)
				d.AgentID = "agent-1"
				stored, err := h.Append(ctx, d, history.Progress{Window: start})
				require.NoError(t, err)
				require.Empty(t, cloudapi.ValidateDiagnosis("", &stored), "the cloud contract accepts window %d", i)
			}
			if c.p50 == 0 {
				assert.Nil(t, d.RUL)
				assert.Nil(t, d.Recommendations[0].DaysToFailure)
			} else {
				require.NotNil(t, d.RUL)
				assert.Equal(t, "pump", d.RUL.Component)
				assert.InDelta(t, c.p50, d.RUL.P50Hours, 0.1)
				require.NotNil(t, d.Recommendations[0].DaysToFailure)
				assert.InDelta(t, c.p50/24, *d.Recommendations[0].DaysToFailure, 0.01)
			}

			// After a restart (no trend file: an agent before it, or a
			// crash before the first save): the next window has the same
			// estimate at once, from the history.
			a2 := trendAgent(cfg, h)
			m2 := a2.trended(trendModel{health: c.health})
			d2, err := m2.Diagnose(&infer.Result{}, &prep.Window{Start: t0.Add(240 * time.Minute)}, time.Millisecond)
			require.NoError(t, err)
			if c.p50 == 0 {
				assert.Nil(t, d2.RUL)
			} else {
				require.NotNil(t, d2.RUL)
				assert.InDelta(t, c.p50-1.0/60, d2.RUL.P50Hours, 0.1)
			}
		})
	}
}
