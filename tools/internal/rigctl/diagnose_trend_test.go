package rigctl

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// TestAnnotateTrendModelRUL: diagnose's text shows the trend's estimate
// after a component's health only when the diagnosis carries the
// trend's: a RUL from the model's head wins (Tracker.Annotate leaves it),
// and then no component shows the trend's, only its degradation rate
// (the fit's slope, -0.1 per hour: "trend -0.1000/h"); a calibrating
// diagnosis gets neither. Before, this was stated in the help without a
// test, and the rate was not printed.
func TestAnnotateTrendModelRUL(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	// pump loses 0.1 per hour from 0.95: 13 windows, 10 minutes apart.
	diagnosis := func(i int) *diag.Diagnosis {
		start := t0.Add(time.Duration(i) * 10 * time.Minute)
		return &diag.Diagnosis{RigID: "rig-1", RigType: "zema-testrig", Status: diag.Healthy, Health: 0.9,
			Window:          diag.Window{Start: start, End: start.Add(time.Minute)},
			Components:      []diag.ComponentHealth{{ID: "pump", Status: diag.Healthy, Health: 0.95 - 0.1*float64(i)/6}},
			Recommendations: []diag.Recommendation{{Component: "pump", Action: "inspect"}}}
	}
	line := func(d *diag.Diagnosis, lt lineTrend) string {
		var b strings.Builder
		printDiagnosisLine(&b, 12, d, lt)
		return b.String()
	}
	feed := func() *trend.Tracker {
		tr := trend.New(trend.Options{})
		for i := range 12 {
			annotateTrend(tr, diagnosis(i))
		}
		return tr
	}

	// The trend's own: after the pump's health, and at the end.
	d := diagnosis(12)
	out := line(d, annotateTrend(feed(), d))
	require.NotNil(t, d.RUL, "two hours of decline give the trend an estimate")
	assert.Regexp(t, `pump=healthy 0\.750 trend -0\.1000/h rul \d+\.\dh \| rul pump \d+\.\dh \(`, out)

	// The model's head's: kept, and no component shows the trend's
	// estimate; the rate, which only the trend gives, stays.
	d = diagnosis(12)
	head := &diag.RUL{Component: "pump", P10Hours: 90, P50Hours: 100, P90Hours: 110}
	d.RUL = head
	out = line(d, annotateTrend(feed(), d))
	assert.Same(t, head, d.RUL)
	assert.Nil(t, d.Recommendations[0].DaysToFailure, "no trend days beside the model's RUL")
	assert.Equal(t, "cycle 13: healthy 0.900 | pump=healthy 0.750 trend -0.1000/h | rul pump 100.0h (90.0-110.0h)\n", out)

	// A calibrating diagnosis: Annotate gives it nothing, and so neither
	// does the text.
	d = diagnosis(12)
	d.Calibrating = true
	out = line(d, annotateTrend(feed(), d))
	assert.Nil(t, d.RUL)
	assert.Equal(t, "cycle 13: healthy 0.900 | pump=healthy 0.750\n", out)
}

// TestFormatRate: rates print with their sign, and one that rounds to
// zero prints as 0 without one (a flat health's slope flips sign with
// rounding).
func TestFormatRate(t *testing.T) {
	for _, c := range []struct {
		rate float64
		prec int
		want string
	}{
		{-0.10704, 4, "-0.1070"},
		{0.00126, 4, "0.0013"},
		{-1e-17, 4, "0.0000"},
		{-0.00004, 4, "0.0000"},
		{0, 3, "0.000"},
		{-2.5691, 3, "-2.569"},
	} {
		assert.Equal(t, c.want, formatRate(c.rate, c.prec), "%v", c.rate)
	}
}

// TestDiagnoseTrendSummary: on the accumulator's cycles (lines 1, 14,
// ..., 209 of the shipped UCI copy, 249 minutes on their cycles.txt
// clock), each cycle's line gives a component with an hour of history
// its degradation rate ("trend RATE/h"), and the summary (text, and JSON
// with --summary --json) gives per component, after the last cycle, the
// fit's points, span and rate per hour and day and the remaining useful
// life: exactly what a Tracker with the agent's options
// (trend.OptionsFor) holds after the same diagnoses (Tracker.Trend and
// Estimate, the agent's code), "-" (JSON null) for a component never
// judged. Before, neither the rate nor the summary's trend was printed.
func TestDiagnoseTrendSummary(t *testing.T) {
	needORT(t)
	data := "uci:" + accumulatorCycles(t)
	args := []string{"diagnose", "--bundle", zemaBundle, "--dataset", data, "--start", "2026-03-01T06:00:00Z"}
	code, out, errOut := runBin(t, append(args, "--json")...)
	require.Equal(t, ExitOK, code, errOut)
	ds := diagnosesOf(t, out)
	require.Len(t, ds, 17)
	cfg, err := rig.Load(zemaRigFile)
	require.NoError(t, err)
	tr := trend.New(trend.OptionsFor(cfg))
	for k := range ds {
		require.True(t, tr.Observe(&ds[k]), "cycle %d", k+1)
	}

	code, out, errOut = runBin(t, append(args, "--summary", "--json")...)
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `"tank": \{\s*"points": 0,\s*"span_hours": null,\s*"rate_per_hour": null,\s*"rate_per_day": null,\s*"rul": null\s*\}`, out)
	var sum diagnoseSummaryJSON
	require.NoError(t, json.Unmarshal([]byte(out), &sum))
	require.Len(t, sum.Trend, len(cfg.Components))
	for _, c := range cfg.Components {
		got := sum.Trend[c.ID]
		fit, ok := tr.Trend(c.ID)
		if !ok {
			assert.Equal(t, trendJSON{}, got, "%s: too little history", c.ID)
			continue
		}
		assert.Equal(t, fit.N, got.Points, c.ID)
		require.NotNil(t, got.RatePerHour, c.ID)
		assert.Equal(t, fit.Rate, *got.RatePerHour, c.ID)
		assert.InDelta(t, 24*fit.Rate, *got.RatePerDay, 1e-12, c.ID)
		assert.InDelta(t, fit.Span.Hours(), *got.SpanHours, 1e-12, c.ID)
		assert.Equal(t, tr.Estimate(c.ID), got.RUL, c.ID)
	}
	acc := sum.Trend["accumulator_a1"]
	require.NotNil(t, acc.RUL, "the accumulator's decline")
	assert.Less(t, *acc.RatePerHour, 0.0)
	assert.Equal(t, "accumulator_a1", acc.RUL.Component)
	assert.Equal(t, ds[16].RUL, acc.RUL, "the last cycle's RUL is the accumulator's")
	assert.Equal(t, trendJSON{}, sum.Trend["tank"], "never judged")

	code, out, errOut = runBin(t, args...)
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^cycle 17: .* accumulator_a1=healthy 0\.\d{3} trend -0\.\d{4}/h rul \d+\.\dh pump_mp2=unknown`, out)
	assert.Regexp(t, `(?m)^cycle 1: [^|]*\| tank=unknown motor_m1=unknown pump_mp1=\w+ \d\.\d{3} valve_v10`, out, "no rate on the first cycle")
	assert.Regexp(t, `(?m)^trend of +points +span +health/h +health/day +rul P50 \(P10-P90\)$`, out)
	assert.Regexp(t, fmt.Sprintf(`(?m)^accumulator_a1 +%d +%.1fh +%s +%s +%.1fh \(%.1f-%.1fh\)$`, acc.Points, *acc.SpanHours,
		regexp.QuoteMeta(formatRate(*acc.RatePerHour, 4)), regexp.QuoteMeta(formatRate(*acc.RatePerDay, 3)),
		acc.RUL.P50Hours, acc.RUL.P10Hours, acc.RUL.P90Hours), out)
	assert.Regexp(t, `(?m)^tank +- +- +- +- +-$`, out)
}
