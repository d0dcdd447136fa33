package trendhist_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/history"
	"github.com/hydrognn/hydrognn/agent/internal/trendhist"
	"github.com/hydrognn/hydrognn/agent/internal/trendtest"
	"github.com/hydrognn/hydrognn/agent/trend"
)

func TestSeedFromHistory(t *testing.T) {
	ctx := context.Background()
	h := trendtest.OpenHistory(t)
	for i := range 240 {
		d := trendtest.Window(i, 0.95-0.05*float64(i+1)/60)
		_, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start})
		require.NoError(t, err)
	}
	tr := trend.New(trend.Options{})
	require.NoError(t, trendhist.Seed(ctx, tr, h, 0))
	d := trendtest.Window(240, 0.95-0.05*241/60)
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
	h := trendtest.OpenHistory(t)
	for i := range 240 {
		d := trendtest.Window(i, declining(i))
		_, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start})
		require.NoError(t, err)
		o := trendtest.Window(i, 0.2)
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
			d := trendtest.Run(live, 240, declining)
			pump, cooler := recorded(live)
			assert.Equal(t, c.pump, pump, "pump observed")
			assert.Equal(t, c.cooler, cooler, "cooler observed")
			assert.Equal(t, c.pump, d.RUL != nil, "the pump's RUL")

			// Seed and CatchUp from h.
			seeded := trend.New(c.o)
			require.NoError(t, trendhist.Seed(ctx, seeded, h, 0))
			pump, cooler = recorded(seeded)
			assert.Equal(t, c.pump, pump, "pump seeded")
			assert.Equal(t, c.cooler, cooler, "cooler seeded")
			if c.pump && c.o.RigID != "" {
				assert.Equal(t, live.Estimate("pump"), seeded.Estimate("pump"), "another rig's diagnoses seeded")
			}

			// Restore the state of every rig and component at window 99,
			// then catch up: the count is the windows 100-239 recorded.
			all := trend.New(trend.Options{})
			trendtest.Run(all, 100, declining)
			caught := trend.New(c.o)
			require.NoError(t, caught.Restore(all.State()))
			pump, cooler = recorded(caught)
			assert.True(t, pump, "restored")
			assert.Equal(t, len(c.o.Components) == 0, cooler, "a component the rig does not have restored")
			n, err := trendhist.CatchUp(ctx, caught, h, 0)
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

// TestCatchUpFromHistory: the State saved some minutes before the agent
// stopped, plus the diagnoses stored since (CatchUp, which skips those
// the State has), estimates as a Tracker that saw every window live.
func TestCatchUpFromHistory(t *testing.T) {
	ctx := context.Background()
	h := trendtest.OpenHistory(t)
	live := trend.New(trend.Options{})
	const saved, end = 3 * 3600, 3*3600 + 300
	var st trend.State
	for i := range end {
		d := trendtest.Second(i)
		live.Observe(d)
		if i == saved-1 {
			st = trendtest.RoundTrip(t, live.State())
		}
		if i >= saved-100 { // the history holds the last minutes, and more
			_, err := h.Append(ctx, d, history.Progress{Window: d.Window.Start})
			require.NoError(t, err)
		}
	}
	restored := trend.New(trend.Options{})
	require.NoError(t, restored.Restore(st))
	n, err := trendhist.CatchUp(ctx, restored, h, 0)
	require.NoError(t, err)
	assert.Equal(t, end-saved, n, "the diagnoses after the State's newest window")
	require.NotNil(t, live.Estimate("pump"))
	assert.Equal(t, live.Estimate("pump"), restored.Estimate("pump"))
	assert.Equal(t, live.Newest(), restored.Newest())

	// Nothing new: nothing recorded.
	n, err = trendhist.CatchUp(ctx, restored, h, 0)
	require.NoError(t, err)
	assert.Zero(t, n)
	// The limit keeps the newest.
	fresh := trend.New(trend.Options{})
	n, err = trendhist.CatchUp(ctx, fresh, h, 50)
	require.NoError(t, err)
	assert.Equal(t, 50, n)
	assert.Equal(t, live.Newest(), fresh.Newest())
}
