package rigctl

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/trend"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/dataset/uci/ucitest"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
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

// accumulatorCycles are lines 1, 14, ..., 209 of the shipped UCI copy
// (every 13th of the first 215), in the data set's order, with their
// cycles.txt: UCI cycles accumulatorIDs, 13 to 24 cycles apart (the copy
// lacks 294-303, 334-344, 355-364 and 437-446). The accumulator's
// precharge is 130 bar (health 1) up to UCI cycle 333 and 115 bar (0.7)
// from 345, so from the 10th (UCI 350) on: a degrading sequence, while
// the cooler stays at 3 % and the pump and valve change back and forth.
func accumulatorCycles(t *testing.T) string {
	return ucitest.Cycles(t, func(i int) bool { return i < 215 && i%13 == 0 })
}

// accumulatorIDs are accumulatorCycles' original UCI cycle numbers.
var accumulatorIDs = []int{212, 225, 238, 251, 264, 277, 290, 313, 326, 350, 373, 386, 399, 412, 425, 448, 461}

// TestDiagnoseClockTrend: with --start and the default --cycle (the
// rig's operation.cycle_s: 60 s for the ZeMA rig), each cycle's window
// starts at --start + (its UCI cycle number - the first's) x 60 s, the
// copy's gaps included (before: i x --cycle, as if the lines were
// consecutive cycles), and each diagnosis carries the remaining useful
// life that shared/diag's EstimateRUL, with the agent's defaults,
// computes from the judged component health of the cycles up to it (the
// agent's trend: agent/trend; its buckets are 24 h/256 = 5.6 minutes, so
// cycles 13 or more minutes apart are each a point of their own). The
// declining accumulator gets one.
func TestDiagnoseClockTrend(t *testing.T) {
	needORT(t)
	dir := accumulatorCycles(t)
	ids, err := os.ReadFile(filepath.Join(dir, "cycles.txt"))
	require.NoError(t, err)
	require.Equal(t, strings.Trim(fmt.Sprint(accumulatorIDs), "[]"), strings.Join(strings.Fields(string(ids)), " "), "the copy's cycle numbers")
	data := "uci:" + dir
	start := time.Date(2026, 3, 1, 6, 0, 0, 0, time.UTC)
	code, out, errOut := runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", data, "--json",
		"--start", start.Format(time.RFC3339))
	require.Equal(t, ExitOK, code, errOut)
	ds := diagnosesOf(t, out)
	require.Len(t, ds, 17)

	pts := map[string][]diag.HealthPoint{}
	withRUL := 0
	for k := range ds {
		d := &ds[k]
		assert.Equal(t, start.Add(time.Duration(accumulatorIDs[k]-212)*time.Minute), d.Window.Start.UTC(), "cycle %d's start", k+1)
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
	assert.Nil(t, ds[4].RUL, "five cycles span 52 minutes")

	// The text prints the component's rate and P50 after its health and
	// the diagnosis's RUL at the end of the line.
	code, out, errOut = runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", data,
		"--start", start.Format(time.RFC3339))
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, regexp.MustCompile(`(?m)^cycle 17: .* accumulator_a1=healthy 0\.\d+ trend -0\.\d{4}/h rul \d+\.\dh .*\| rul accumulator_a1 \d+\.\dh \(\d+\.\d-\d+\.\dh\)$`), out)
	assert.Regexp(t, `(?m)^cycle 1: [^|]*\|[^|]* accumulator_a1=healthy \d\.\d{3} pump_mp2`, out, "no RUL on the first cycle")
}

// TestDiagnoseDefaultClockBuckets: on the default clock (60 s UCI
// cycles, five or six to one of the tracker's 5.6-minute buckets), each
// diagnosis's RUL is what a Tracker with the agent's options
// (trend.OptionsFor) gives on the diagnoses so far, not EstimateRUL on
// the raw points: the buckets are the agent's. The first 150 lines of the
// shipped copy (UCI cycles 212-375, the accumulator at 115 bar from line
// 113).
func TestDiagnoseDefaultClockBuckets(t *testing.T) {
	needORT(t)
	data := "uci:" + ucitest.Cycles(t, func(i int) bool { return i < 150 })
	code, out, errOut := runBin(t, "diagnose", "--bundle", zemaBundle, "--dataset", data, "--json")
	require.Equal(t, ExitOK, code, errOut)
	ds := diagnosesOf(t, out)
	require.Len(t, ds, 150)
	assert.Equal(t, diagnoseEpoch.Add(time.Minute), ds[1].Window.Start.UTC(), "the default clock: 60 s per cycle from 2000-01-01")
	assert.Equal(t, diagnoseEpoch.Add((345-212)*time.Minute), ds[112].Window.Start.UTC(), "line 113 is UCI cycle 345, after the gap from 333")

	cfg, err := rig.Load(zemaRigFile)
	require.NoError(t, err)
	tr := trend.New(trend.OptionsFor(cfg))
	raw := map[string][]diag.HealthPoint{}
	withRUL, differ := 0, 0
	for k := range ds {
		d := ds[k] // a copy, without the trend's RUL and days
		d.RUL = nil
		d.Recommendations = slices.Clone(d.Recommendations)
		for j := range d.Recommendations {
			d.Recommendations[j].DaysToFailure = nil
		}
		tr.Annotate(&d)
		assert.Equal(t, d.RUL, ds[k].RUL, "cycle %d's RUL", k+1)
		for _, c := range ds[k].Components {
			if diag.Judged(c) {
				raw[c.ID] = append(raw[c.ID], diag.HealthPoint{Time: ds[k].Window.End, Health: c.Health})
			}
		}
		if ds[k].RUL == nil {
			continue
		}
		withRUL++
		c := ds[k].RUL.Component
		if r := diag.EstimateRUL(raw[c], diag.TrendOptions{}); r == nil || r.P50Hours != ds[k].RUL.P50Hours {
			differ++
		}
	}
	assert.Greater(t, withRUL, 10, "the accumulator's decline gets estimates")
	assert.Positive(t, differ, "bucketed estimates differ from the raw points'")
}

// TestDiagnoseClockFlags: a --start that is not RFC 3339 or outside the
// times the cloud accepts (2000-2199), or a --cycle that is not a
// positive duration, is a usage error naming the flag, found before the
// bundle is opened.
func TestDiagnoseClockFlags(t *testing.T) {
	bundle := filepath.Join(t.TempDir(), "none")
	for _, c := range []struct {
		flag, value, want string
	}{
		{"--start", "2026-03-01", `--start "2026-03-01": not an RFC 3339 time`},
		{"--start", "yesterday", `--start "yesterday": not an RFC 3339 time`},
		{"--start", "1999-12-31T23:59:59Z", "--start 1999-12-31T23:59:59Z: outside the times the cloud accepts (2000-2199)"},
		{"--start", "1970-01-01T00:00:00Z", "--start 1970-01-01T00:00:00Z: outside the times the cloud accepts (2000-2199)"},
		{"--start", "2200-01-01T00:00:00Z", "--start 2200-01-01T00:00:00Z: outside the times the cloud accepts (2000-2199)"},
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

// TestDiagnoseClockRange: the data set's cycles.txt numbers set the
// clock, gaps included; a clock whose last cycle overflows a Duration or
// whose last window ends where the cloud refuses it is a usage error
// naming --cycle, and cycle numbers that do not increase are an error
// naming cycles.txt, each before any cycle runs. Before, the times
// wrapped around (--cycle 300000h: a cycle in 1723 after one in 2273) or
// ran past 2199 silently, and the trend dropped every later cycle.
func TestDiagnoseClockRange(t *testing.T) {
	needORT(t)
	dir := simulate(t, excavatorRig, "", 3) // 20 s cycles, cycles.txt 1 2 3
	data := "sim:" + dir
	ids := func(s string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "cycles.txt"), []byte(s), 0o644))
	}
	ids("5\n8\n9\n")
	code, out, errOut := runBin(t, "diagnose", "--bundle", excavatorBundle, "--dataset", data, "--json")
	require.Equal(t, ExitOK, code, errOut)
	ds := diagnosesOf(t, out)
	require.Len(t, ds, 3)
	for k, s := range []int{0, 60, 80} {
		assert.Equal(t, diagnoseEpoch.Add(time.Duration(s)*time.Second), ds[k].Window.Start.UTC(), "cycle %d's start: the gap from 5 to 8 is three 20 s cycles", k+1)
	}

	for _, c := range []struct {
		ids  string
		args []string
		code int
		want string
	}{
		// 229 years from 2000 ends after 2199.
		{"1\n2\n3\n", []string{"--cycle", "1000000h"}, ExitUsage,
			"--start 2000-01-01T00:00:00Z --cycle 1000000h0m0s: the last cycle's window (2 cycles after the first) ends at 2228-02-"},
		{"1\n2\n3\n", []string{"--start", "2199-12-31T23:59:00Z"}, ExitUsage,
			"the last cycle's window (2 cycles after the first) ends at 2200-01-01T00:00:00Z, outside the times the cloud accepts (2000-2199)"},
		// 999,999 cycles of 10000 h overflow a Duration (at most 2,562,047 h).
		{"1\n2\n1000000\n", []string{"--cycle", "10000h"}, ExitUsage,
			"--cycle 10000h0m0s: the last cycle would start 999999 cycles after the first, longer than a time.Duration holds (at most 2h33m43.381260236s a cycle)"},
		{"1\n3\n3\n", nil, ExitFailure, "cycles.txt line 3: cycle 3 is not after line 2's 3"},
	} {
		ids(c.ids)
		code, out, errOut := runBin(t, append([]string{"diagnose", "--bundle", excavatorBundle, "--dataset", data, "--json"}, c.args...)...)
		assert.Equal(t, c.code, code, "%v on %q", c.args, c.ids)
		assert.Empty(t, out, "%v on %q: nothing ran", c.args, c.ids)
		assert.Contains(t, errOut, c.want, "%v on %q", c.args, c.ids)
	}
}
