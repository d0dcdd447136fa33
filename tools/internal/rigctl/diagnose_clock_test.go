package rigctl

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/dataset/uci/ucitest"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// diagnosesOf parses `rigctl diagnose --json`'s output, one diagnosis a
// line.
func diagnosesOf(t *testing.T, out string) []diag.Diagnosis {
	t.Helper()
	var ds []diag.Diagnosis
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var d diag.Diagnosis
		require.NoError(t, json.Unmarshal(sc.Bytes(), &d))
		ds = append(ds, d)
	}
	return ds
}

// accumulatorCycles are the real UCI cycles 1, 14, ..., 209 (every 13th
// of the first 215), in the data set's order: the accumulator's
// precharge goes from 130 bar (health 1) to 115 bar (0.7) at cycle 113,
// a degrading sequence, while the cooler stays at 3 % and the pump and
// valve change back and forth. Each is 13 minutes after the one before
// in the data set (60 s cycles).
func accumulatorCycles(t *testing.T) string {
	return ucitest.Cycles(t, func(i int) bool { return i < 215 && i%13 == 0 })
}

// TestDiagnoseClockTrend: with --start and --cycle, the cycles' windows
// start --cycle apart from --start, and each diagnosis carries the
// remaining useful life that shared/diag's EstimateRUL, with the agent's
// defaults, computes from the judged component health of the cycles up
// to it (the agent's trend: agent/trend; its buckets are 24 h/256 = 5.6
// minutes, so 13-minute cycles are each a point of their own). The
// declining accumulator gets one; before the fix diagnoses had no clock
// and no RUL.
func TestDiagnoseClockTrend(t *testing.T) {
	needORT(t)
	data := "uci:" + accumulatorCycles(t)
	start := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	const cycle = 13 * time.Minute
	code, out, errOut := runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", data, "--json",
		"--start", start.Format(time.RFC3339), "--cycle", "13m")
	require.Equal(t, ExitOK, code, errOut)
	ds := diagnosesOf(t, out)
	require.Len(t, ds, 17)

	pts := map[string][]diag.HealthPoint{}
	withRUL := 0
	for k := range ds {
		d := &ds[k]
		assert.Equal(t, start.Add(time.Duration(k)*cycle), d.Window.Start.UTC(), "cycle %d's start", k+1)
		assert.Equal(t, time.Minute, d.Window.End.Sub(d.Window.Start), "cycle %d's window: the bundle's 60 s", k+1)
		for _, c := range d.Components {
			if diag.Judged(c) {
				pts[c.ID] = append(pts[c.ID], diag.HealthPoint{Time: d.Window.End, Health: c.Health})
			}
		}
		// The agent's estimate: per component, the shared function on
		// the points so far; the diagnosis's is the shortest P50.
		var want *diag.RUL
		for _, c := range d.Components {
			if !diag.Judged(c) {
				continue
			}
			r := diag.EstimateRUL(pts[c.ID], diag.TrendOptions{})
			if r != nil && (want == nil || r.P50Hours < want.P50Hours) {
				r.Component = c.ID
				want = r
			}
		}
		assert.Equal(t, want, d.RUL, "cycle %d's RUL", k+1)
		if d.RUL != nil {
			withRUL++
			for _, rec := range d.Recommendations {
				if rec.Component == d.RUL.Component {
					require.NotNil(t, rec.DaysToFailure, "cycle %d: %s's recommendation", k+1, rec.Component)
					assert.InDelta(t, d.RUL.P50Hours/24, *rec.DaysToFailure, 1e-12)
				}
			}
		}
		// The cloud accepts it, window times and RUL included (the
		// agent's id and seq aside).
		d.AgentID, d.Seq = "rig-001", uint64(k+1)
		assert.Empty(t, cloudapi.ValidateDiagnosis("", d), "cycle %d", k+1)
	}
	// Too few points, or a span under an hour, before; the accumulator's
	// decline from its 10th cycle (the first at 115 bar) on.
	require.NotNil(t, ds[16].RUL)
	assert.Equal(t, "accumulator_a1", ds[16].RUL.Component)
	assert.Greater(t, ds[16].RUL.P50Hours, 0.0)
	assert.GreaterOrEqual(t, withRUL, 5)
	assert.Nil(t, ds[5].RUL, "six cycles span 65 minutes of a flat accumulator")

	// The text prints the component's P50 after its health and the
	// diagnosis's RUL at the end of the line.
	code, out, errOut = runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", data,
		"--start", start.Format(time.RFC3339), "--cycle", "13m")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, regexp.MustCompile(`(?m)^cycle 17: .* accumulator_a1=healthy 0\.\d+ rul \d+\.\dh .*\| rul accumulator_a1 \d+\.\dh \(\d+\.\d-\d+\.\dh\)$`), out)
	assert.Regexp(t, `(?m)^cycle 1: [^|]*\|[^|]* accumulator_a1=healthy \d\.\d{3} pump_mp2`, out, "no RUL on the first cycle")
}

// TestDiagnoseClockFlags: a --start that is not RFC 3339 or a --cycle
// that is not a positive duration is a usage error naming the flag,
// found before the bundle is opened.
func TestDiagnoseClockFlags(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--start", "2026-03-01", `--start "2026-03-01": not an RFC 3339 time`},
		{"--start", "yesterday", `--start "yesterday": not an RFC 3339 time`},
		{"--cycle", "0", "--cycle 0: want a positive duration"},
		{"--cycle", "0s", "--cycle 0s: want a positive duration"},
		{"--cycle", "-60s", "--cycle -60s: want a positive duration"},
		{"--cycle", "60", `--cycle "60": not a duration such as 60s`},
	} {
		code, _, errOut := runBin(t, "diagnose", "--bundle", bundle, "--dataset", "uci:/nonexistent", c.flag, c.value)
		assert.Equal(t, ExitUsage, code, "%s %s", c.flag, c.value)
		assert.Contains(t, errOut, "diagnose: "+c.want, "%s %s", c.flag, c.value)
	}
}
