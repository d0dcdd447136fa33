package trend_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/trendtest"
	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

func TestDecliningHealthGetsRUL(t *testing.T) {
	// The pump loses 0.05 per hour from 0.95, 4 h of one-minute windows:
	// 0.75 at the end, the critical band (0.5) 5 h later.
	tr := trend.New(trend.Options{})
	d := trendtest.Run(tr, 240, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	require.NotNil(t, d.RUL)
	assert.Equal(t, "pump", d.RUL.Component)
	assert.InDelta(t, 5, d.RUL.P50Hours, 0.1)
	assert.LessOrEqual(t, d.RUL.P10Hours, d.RUL.P50Hours)
	assert.GreaterOrEqual(t, d.RUL.P90Hours, d.RUL.P50Hours)
	require.NotNil(t, d.Recommendations[0].DaysToFailure)
	assert.InDelta(t, d.RUL.P50Hours/24, *d.Recommendations[0].DaysToFailure, 1e-12)
	assert.Nil(t, d.Recommendations[1].DaysToFailure, "a rig-wide recommendation has no component")
	assert.Empty(t, cloudapi.ValidateDiagnosis("", d), "the cloud contract accepts it")

	// The JSON carries the fields.
	b, err := json.Marshal(d)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"rul":{"component":"pump","p10_hours":`)
	assert.Contains(t, string(b), `"days_to_failure":0.2`)
}

func TestStableHealthGetsNone(t *testing.T) {
	for name, health := range map[string]func(int) float64{
		"constant": func(int) float64 { return 0.95 },
		// Wobbling around 0.9 (the expected health of class
		// probabilities moves from window to window).
		"wobbling":  func(i int) float64 { return 0.9 + 0.03*float64((i*7)%5-2)/2 },
		"improving": func(i int) float64 { return 0.6 + 0.05*float64(i)/60 },
	} {
		t.Run(name, func(t *testing.T) {
			tr := trend.New(trend.Options{})
			d := trendtest.Run(tr, 240, health)
			assert.Nil(t, d.RUL)
			assert.Nil(t, d.Recommendations[0].DaysToFailure)
			assert.Nil(t, tr.Estimate("pump"))
			assert.Empty(t, cloudapi.ValidateDiagnosis("", d))
		})
	}
}

func TestTooLittleHistoryGetsNone(t *testing.T) {
	// A steep decline, but 30 minutes of it: under the hour asked for.
	tr := trend.New(trend.Options{})
	d := trendtest.Run(tr, 30, func(i int) float64 { return 0.95 - 0.01*float64(i) })
	assert.Nil(t, d.RUL)
}

func TestModelRULWins(t *testing.T) {
	tr := trend.New(trend.Options{})
	trendtest.Run(tr, 239, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	d := trendtest.Window(239, 0.75)
	model := &diag.RUL{Component: "pump", P10Hours: 1, P50Hours: 2, P90Hours: 3}
	d.RUL = model
	two := 2.0 / 24
	d.Recommendations[0].DaysToFailure = &two
	tr.Annotate(d)
	assert.Same(t, model, d.RUL)
	assert.Equal(t, two, *d.Recommendations[0].DaysToFailure)

	// A model head that names no component: the recommendation gets no
	// days from the trend beside the model's RUL (rul.p50_hours/24 and
	// days_to_failure would then come from two sources).
	d = trendtest.Window(240, 0.749)
	model = &diag.RUL{P10Hours: 100, P50Hours: 200, P90Hours: 300}
	d.RUL = model
	tr.Annotate(d)
	assert.Same(t, model, d.RUL)
	assert.Nil(t, d.Recommendations[0].DaysToFailure, "days_to_failure from the trend beside the model's RUL")
	require.NotNil(t, tr.Estimate("pump"), "the trend has an estimate it did not use")
}

func TestUnknownAndCalibratingIgnored(t *testing.T) {
	tr := trend.New(trend.Options{})
	trendtest.Run(tr, 240, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	before := tr.Estimate("pump")
	require.NotNil(t, before)
	// A window judging nothing records nothing and gets no RUL.
	d := trendtest.Window(240, 0)
	d.Components[0].Status, d.Components[1].Status = diag.Unknown, diag.Unknown
	tr.Annotate(d)
	assert.Nil(t, d.RUL)
	// Calibrating: the same.
	d = trendtest.Window(241, 0.01)
	d.Calibrating = true
	tr.Annotate(d)
	assert.Nil(t, d.RUL)
	assert.Equal(t, before, tr.Estimate("pump"))
	// A window diagnosed again (an earlier time) is not recorded twice.
	tr.Observe(trendtest.Window(100, 0.01))
	assert.Equal(t, before, tr.Estimate("pump"))
}

func TestBounded(t *testing.T) {
	tr := trend.New(trend.Options{MaxPoints: 16, MaxComponents: 1})
	// Two days of one-minute windows: the pump's points are those of the
	// last 24 h, in 16 buckets of 90 minutes; the cooler is not tracked.
	trendtest.Run(tr, 2*24*60, func(i int) float64 { return 0.95 - 0.005*float64(i)/60 })
	r := tr.Estimate("pump")
	require.NotNil(t, r)
	assert.Nil(t, tr.Estimate("cooler"))
	// 0.95 - 0.24 = 0.71 at the end, 42 h to 0.5; the bucket means lie
	// on the line too.
	assert.InDelta(t, 42, r.P50Hours, 0.5)
}

// TestOptionsFor: the options the agent and rigctl diagnose track a rig
// with are its equipment id, rig type and component ids in config order,
// the rest at their defaults; a nil config records everything.
func TestOptionsFor(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	o := trend.OptionsFor(cfg)
	ids := make([]string, len(cfg.Components))
	for i, c := range cfg.Components {
		ids[i] = c.ID
	}
	require.NotEmpty(t, ids)
	assert.Equal(t, trend.Options{RigID: cfg.Equipment.ID, RigType: "zema-testrig", Components: ids}, o)
	assert.Equal(t, trend.Options{}, trend.OptionsFor(nil))
}

// TestTrendRate: Trend is the fit Estimate projects: its Rate is the
// pump's degradation rate (-0.05 health per hour), its Health the line at
// the newest point, and the estimate's P50 is (Health - 0.5) / -Rate; a
// flat cooler has a Trend of rate 0 but no estimate; too little history
// (30 minutes) or an unknown component has none.
func TestTrendRate(t *testing.T) {
	tr := trend.New(trend.Options{})
	trendtest.Run(tr, 30, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	_, ok := tr.Trend("pump")
	assert.False(t, ok, "30 minutes: under the hour a fit needs")

	tr = trend.New(trend.Options{})
	trendtest.Run(tr, 240, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	fit, ok := tr.Trend("pump")
	require.True(t, ok)
	assert.InDelta(t, -0.05, fit.Rate, 1e-9)
	r := tr.Estimate("pump")
	require.NotNil(t, r)
	// The newest bucket's mean lies a few minutes before the newest
	// window, time Estimate counts as gone.
	gone := tr.Newest().Sub(fit.Last).Hours()
	assert.InDelta(t, (fit.Health-diag.CriticalBelow)/-fit.Rate-gone, r.P50Hours, 1e-9)

	cooler, ok := tr.Trend("cooler")
	require.True(t, ok)
	assert.InDelta(t, 0, cooler.Rate, 1e-12)
	assert.Nil(t, tr.Estimate("cooler"))
	_, ok = tr.Trend("valve")
	assert.False(t, ok, "never recorded")
}
