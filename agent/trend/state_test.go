package trend_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/trendtest"
	"github.com/hydrognn/hydrognn/agent/trend"
)

// TestRestoreEstimatesAsLive: a Tracker restored from the State of one
// that saw 20 h of one-second windows estimates exactly as that one, at
// once and after both saw 6 h more (the window moving past the oldest
// points). The State stays small: 256 points per component.
func TestRestoreEstimatesAsLive(t *testing.T) {
	live := trend.New(trend.Options{})
	const saved = 20 * 3600
	for i := range saved {
		live.Observe(trendtest.Second(i))
	}
	st := trendtest.RoundTrip(t, live.State())
	b, _ := json.Marshal(st)
	assert.Less(t, len(b), 20<<10, "two components' state")
	for _, c := range st.Components {
		assert.LessOrEqual(t, len(c.Times), trend.DefaultMaxPoints)
	}
	restored := trend.New(trend.Options{})
	require.NoError(t, restored.Restore(st))
	require.NotNil(t, live.Estimate("pump"))
	assert.Equal(t, live.Estimate("pump"), restored.Estimate("pump"))
	assert.Equal(t, live.Newest(), restored.Newest())
	for i := saved; i < saved+6*3600; i++ {
		live.Observe(trendtest.Second(i))
		restored.Observe(trendtest.Second(i))
	}
	r := live.Estimate("pump")
	require.NotNil(t, r)
	assert.Equal(t, r, restored.Estimate("pump"))
	// 0.95 - 0.26 = 0.69 at 26 h, 19 h from the critical band (0.5).
	assert.InDelta(t, 19, r.P50Hours, 0.1)
}

// TestRestoreRefusesBadState: a State that is not one this package
// wrote, or that breaks its bounds, is refused whole, naming what is
// wrong, and the Tracker keeps what it had.
func TestRestoreRefusesBadState(t *testing.T) {
	good := func() trend.ComponentState {
		return trend.ComponentState{ID: "pump", Times: []int64{1, 2, 3}, Health: []float64{0.9, 0.8, 0.7},
			Last: 3, BucketStart: 3, BucketN: 1, SumH: 0.7}
	}
	tooMany := good()
	tooMany.Times, tooMany.Health = make([]int64, 5), make([]float64, 5)
	for i := range tooMany.Times {
		tooMany.Times[i], tooMany.Health[i] = int64(i+1), 0.5
	}
	tooMany.Last = 5
	for name, tc := range map[string]struct {
		st   trend.State
		want string
	}{
		"version":    {trend.State{Version: 2}, "state version 2"},
		"no id":      {trend.State{Version: 1, Components: []trend.ComponentState{func() trend.ComponentState { c := good(); c.ID = ""; return c }()}}, "no id"},
		"lengths":    {trend.State{Version: 1, Components: []trend.ComponentState{func() trend.ComponentState { c := good(); c.Health = c.Health[:2]; return c }()}}, "3 times but 2 health values"},
		"order":      {trend.State{Version: 1, Components: []trend.ComponentState{func() trend.ComponentState { c := good(); c.Times[2] = 2; return c }()}}, "point 2 not after"},
		"health":     {trend.State{Version: 1, Components: []trend.ComponentState{func() trend.ComponentState { c := good(); c.Health[1] = 1.5; return c }()}}, "health 1.5 not in [0, 1]"},
		"after last": {trend.State{Version: 1, Components: []trend.ComponentState{func() trend.ComponentState { c := good(); c.Last = 2; return c }()}}, "after the newest window"},
		"twice":      {trend.State{Version: 1, Components: []trend.ComponentState{good(), good()}}, "given twice"},
		"points":     {trend.State{Version: 1, Components: []trend.ComponentState{tooMany}}, "5 points, at most 4"},
		"components": {trend.State{Version: 1, Components: []trend.ComponentState{good(), func() trend.ComponentState { c := good(); c.ID = "b"; return c }(), func() trend.ComponentState { c := good(); c.ID = "c"; return c }()}}, "3 components, at most 2"},
	} {
		t.Run(name, func(t *testing.T) {
			tr := trend.New(trend.Options{MaxPoints: 4, MaxComponents: 2})
			tr.Observe(trendtest.Second(0))
			before := tr.State()
			err := tr.Restore(tc.st)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.ElementsMatch(t, before.Components, tr.State().Components)
		})
	}
}
