package trend_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/trend"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
)

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// window is the diagnosis of the i-th one-minute window of a rig whose
// pump has health pump and cooler health 0.95, with a recommendation on
// the pump (an anomaly the model found) and a rig-wide one.
func window(i int, pump float64) *diag.Diagnosis {
	start := t0.Add(time.Duration(i) * time.Minute)
	return &diag.Diagnosis{
		RigID: "press-1", RigType: "zema-testrig", AgentID: "agent-1", Seq: uint64(i + 1),
		CreatedAt: start.Add(61 * time.Second),
		Window:    diag.Window{Start: start, End: start.Add(time.Minute), Steps: 60, Coverage: 1},
		Model:     diag.ModelRef{Version: "zema-2025.03"},
		Health:    pump, Status: diag.StatusOf(pump), Components: components(pump),
		Recommendations: []diag.Recommendation{
			{Component: "pump", Fault: "leakage", Action: "inspect the pump", Priority: diag.SeverityMedium},
			{Component: "", Fault: "unstable", Action: "check the load", Priority: diag.SeverityLow},
		},
	}
}

// components are the rig's: the pump with health pump, the cooler with
// 0.95.
func components(pump float64) []diag.ComponentHealth {
	return []diag.ComponentHealth{
		{ID: "pump", Health: pump, Status: diag.StatusOf(pump)},
		{ID: "cooler", Health: 0.95, Status: diag.Healthy},
	}
}

// openHistory opens a diagnosis history in the test's directory that
// keeps every diagnosis; it is closed when the test ends.
func openHistory(t testing.TB) *history.Store {
	t.Helper()
	h, err := history.Open(filepath.Join(t.TempDir(), "diagnoses.db"), history.Options{MaxAge: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// run annotates windows 0..n-1 with health(i) and returns the last.
func run(tr *trend.Tracker, n int, health func(i int) float64) *diag.Diagnosis {
	var d *diag.Diagnosis
	for i := range n {
		d = window(i, health(i))
		tr.Annotate(d)
	}
	return d
}

func TestDecliningHealthGetsRUL(t *testing.T) {
	// The pump loses 0.05 per hour from 0.95, 4 h of one-minute windows:
	// 0.75 at the end, the critical band (0.5) 5 h later.
	tr := trend.New(trend.Options{})
	d := run(tr, 240, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
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
			d := run(tr, 240, health)
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
	d := run(tr, 30, func(i int) float64 { return 0.95 - 0.01*float64(i) })
	assert.Nil(t, d.RUL)
}

func TestModelRULWins(t *testing.T) {
	tr := trend.New(trend.Options{})
	run(tr, 239, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	d := window(239, 0.75)
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
	d = window(240, 0.749)
	model = &diag.RUL{P10Hours: 100, P50Hours: 200, P90Hours: 300}
	d.RUL = model
	tr.Annotate(d)
	assert.Same(t, model, d.RUL)
	assert.Nil(t, d.Recommendations[0].DaysToFailure, "days_to_failure from the trend beside the model's RUL")
	require.NotNil(t, tr.Estimate("pump"), "the trend has an estimate it did not use")
}

func TestUnknownAndCalibratingIgnored(t *testing.T) {
	tr := trend.New(trend.Options{})
	run(tr, 240, func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 })
	before := tr.Estimate("pump")
	require.NotNil(t, before)
	// A window judging nothing records nothing and gets no RUL.
	d := window(240, 0)
	d.Components[0].Status, d.Components[1].Status = diag.Unknown, diag.Unknown
	tr.Annotate(d)
	assert.Nil(t, d.RUL)
	// Calibrating: the same.
	d = window(241, 0.01)
	d.Calibrating = true
	tr.Annotate(d)
	assert.Nil(t, d.RUL)
	assert.Equal(t, before, tr.Estimate("pump"))
	// A window diagnosed again (an earlier time) is not recorded twice.
	tr.Observe(window(100, 0.01))
	assert.Equal(t, before, tr.Estimate("pump"))
}

func TestBounded(t *testing.T) {
	tr := trend.New(trend.Options{MaxPoints: 16, MaxComponents: 1})
	// Two days of one-minute windows: the pump's points are those of the
	// last 24 h, in 16 buckets of 90 minutes; the cooler is not tracked.
	run(tr, 2*24*60, func(i int) float64 { return 0.95 - 0.005*float64(i)/60 })
	r := tr.Estimate("pump")
	require.NotNil(t, r)
	assert.Nil(t, tr.Estimate("cooler"))
	// 0.95 - 0.24 = 0.71 at the end, 42 h to 0.5; the bucket means lie
	// on the line too.
	assert.InDelta(t, 42, r.P50Hours, 0.5)
}

func TestSeedFromHistory(t *testing.T) {
	ctx := context.Background()
	h := openHistory(t)
	for i := range 240 {
		d := window(i, 0.95-0.05*float64(i+1)/60)
		_, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start})
		require.NoError(t, err)
	}
	tr := trend.New(trend.Options{})
	require.NoError(t, tr.Seed(ctx, h, 0))
	d := window(240, 0.95-0.05*241/60)
	tr.Annotate(d)
	require.NotNil(t, d.RUL, "a restarted agent has its health history back")
	// 0.95 - 0.05·241/60 = 0.749 at the end, 4.98 h from 0.5.
	assert.InDelta(t, 4.98, d.RUL.P50Hours, 0.1)
}

// TestRigFilter: a Tracker of a rig (Options.RigID and RigType) records
// only that rig's diagnoses, and with Options.Components only those
// components; empty options record every rig's and component's. Observe,
// Seed and CatchUp (its count is of the rig's diagnoses it recorded, not
// of all it read) follow the same rule, and Restore drops the components
// the rig does not have.
func TestRigFilter(t *testing.T) {
	ctx := context.Background()
	declining := func(i int) float64 { return 0.95 - 0.05*float64(i+1)/60 }
	// A history of press-1 (windows 0-239) with another rig's diagnosis
	// (press-9) ending a second after each.
	h := openHistory(t)
	for i := range 240 {
		d := window(i, declining(i))
		_, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start})
		require.NoError(t, err)
		o := window(i, 0.2)
		o.RigID, o.Seq, o.Window.End = "press-9", o.Seq+1000, o.Window.End.Add(time.Second)
		_, err = h.Append(ctx, o, history.Progress{Window: o.Window.Start})
		require.NoError(t, err)
	}
	for _, c := range []struct {
		name string
		o    trend.Options
		// pump and cooler: whether each is recorded.
		pump, cooler bool
	}{
		{"same rig", trend.Options{RigID: "press-1", RigType: "zema-testrig"}, true, true},
		{"other rig id", trend.Options{RigID: "press-2", RigType: "zema-testrig"}, false, false},
		{"other rig type", trend.Options{RigID: "press-1", RigType: "skab-testbed"}, false, false},
		{"no options", trend.Options{}, true, true},
		{"components", trend.Options{RigID: "press-1", RigType: "zema-testrig", Components: []string{"pump", "valve"}}, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			recorded := func(tr *trend.Tracker) (pump, cooler bool) {
				for _, s := range tr.State().Components {
					pump, cooler = pump || s.ID == "pump", cooler || s.ID == "cooler"
				}
				return pump, cooler
			}
			// Observe.
			live := trend.New(c.o)
			d := run(live, 240, declining)
			pump, cooler := recorded(live)
			assert.Equal(t, c.pump, pump, "pump observed")
			assert.Equal(t, c.cooler, cooler, "cooler observed")
			assert.Equal(t, c.pump, d.RUL != nil, "the pump's RUL")

			// Seed and CatchUp from h.
			seeded := trend.New(c.o)
			require.NoError(t, seeded.Seed(ctx, h, 0))
			pump, cooler = recorded(seeded)
			assert.Equal(t, c.pump, pump, "pump seeded")
			assert.Equal(t, c.cooler, cooler, "cooler seeded")
			if c.pump && c.o.RigID != "" {
				assert.Equal(t, live.Estimate("pump"), seeded.Estimate("pump"), "another rig's diagnoses seeded")
			}

			// Restore the state of every rig and component at window 99,
			// then catch up: the count is the windows 100-239 recorded.
			all := trend.New(trend.Options{})
			run(all, 100, declining)
			caught := trend.New(c.o)
			require.NoError(t, caught.Restore(all.State()))
			pump, cooler = recorded(caught)
			assert.True(t, pump, "restored")
			assert.Equal(t, len(c.o.Components) == 0, cooler, "a component the rig does not have restored")
			n, err := caught.CatchUp(ctx, h, 0)
			require.NoError(t, err)
			want := 0
			if c.pump {
				want = 140
			}
			if c.o.RigID == "" {
				want = 281 // press-9's too, from its window 99 (it ends after press-1's)
			}
			assert.Equal(t, want, n, "diagnoses recorded")
		})
	}
}
