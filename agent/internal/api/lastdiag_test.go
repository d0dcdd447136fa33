package api

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metricValue returns the value of the sample named name (no labels) in
// a /metrics body.
func metricValue(tb testing.TB, body, name string) float64 {
	tb.Helper()
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(tb, err, "sample %s", sc.Text())
			return f
		}
	}
	tb.Fatalf("no sample %s in /metrics", name)
	return 0
}

// After a restart, or a model update (a new windowing runner, whose
// statistics start at zero), the newest diagnosis is the history's: its
// seq was exported (from the history) while its time read 0 ("none yet",
// from the runner) until the next window closed, so an alert on
// time() - rig_agent_diagnosis_last_timestamp_seconds fired on every
// restart and model update, and the two gauges of the newest diagnosis
// disagreed.
func TestLastDiagnosisTimeFromHistory(t *testing.T) {
	ts, _ := newServer(t, 3, nil) // the runner's stats: nothing diagnosed since start
	code, body := get(t, ts, "/metrics")
	require.Equal(t, 200, code)
	assert.Equal(t, 3.0, metricValue(t, body, "rig_agent_diagnosis_last_seq"))
	newest := t0.Add(2*time.Minute + 62*time.Second) // made at the end of window 3 (newServer)
	assert.Equal(t, float64(newest.UnixNano())/1e9, metricValue(t, body, "rig_agent_diagnosis_last_timestamp_seconds"),
		"the time of the newest diagnosis in the history")

	empty, _ := newServer(t, 0, nil)
	_, body = get(t, empty, "/metrics")
	assert.Zero(t, metricValue(t, body, "rig_agent_diagnosis_last_timestamp_seconds"), "0: none yet")
}
