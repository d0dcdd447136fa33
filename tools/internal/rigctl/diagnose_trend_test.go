package rigctl

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// TestAnnotateTrendModelRUL: diagnose's text shows the trend's estimate
// after a component's health only when the diagnosis carries the
// trend's: a RUL from the model's head wins (Tracker.Annotate leaves it),
// and then no component shows the trend's; a calibrating diagnosis gets
// none either. Before, this was stated in the help without a test.
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
	line := func(d *diag.Diagnosis, rul func(string) *diag.RUL) string {
		var b strings.Builder
		printDiagnosisLine(&b, 12, d, rul)
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
	assert.Regexp(t, `pump=healthy 0\.750 rul \d+\.\dh \| rul pump \d+\.\dh \(`, out)

	// The model's head's: kept, and no component shows the trend's.
	d = diagnosis(12)
	head := &diag.RUL{Component: "pump", P10Hours: 90, P50Hours: 100, P90Hours: 110}
	d.RUL = head
	out = line(d, annotateTrend(feed(), d))
	assert.Same(t, head, d.RUL)
	assert.Nil(t, d.Recommendations[0].DaysToFailure, "no trend days beside the model's RUL")
	assert.Equal(t, "cycle 13: healthy 0.900 | pump=healthy 0.750 | rul pump 100.0h (90.0-110.0h)\n", out)

	// A calibrating diagnosis: Annotate gives it nothing, and so neither
	// does the text.
	d = diagnosis(12)
	d.Calibrating = true
	out = line(d, annotateTrend(feed(), d))
	assert.Nil(t, d.RUL)
	assert.Equal(t, "cycle 13: healthy 0.900 | pump=healthy 0.750\n", out)
}
