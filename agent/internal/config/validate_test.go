package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseErrs parses a config made of base plus extra and returns its
// problems as "key: message" lines (nil when it is valid).
func parseErrs(t *testing.T, extra string, env ...string) []string {
	t.Helper()
	base := "agent: {data_dir: /d}\nrig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n"
	_, err := Parse("/etc/a.yaml", []byte(base+extra), env)
	if err == nil {
		return nil
	}
	var es Errors
	require.True(t, errors.As(err, &es), "%v", err)
	var out []string
	for _, e := range es {
		out = append(out, e.Path+": "+e.Msg)
	}
	return out
}

// A queue limit of 1 gives the embedded broker a high-water mark of 0,
// which it refuses at start with an error about broker.listen: the config
// refuses it and names the key.
func TestBrokerQueueLimitsAtLeastTwo(t *testing.T) {
	for _, key := range []string{"max_inflight", "max_pending_writes"} {
		errs := parseErrs(t, fmt.Sprintf("broker:\n  embedded: true\n  limits: {%s: 1}\n", key))
		require.Len(t, errs, 1, key)
		assert.Contains(t, errs[0], "broker.limits."+key+": 1 is out of range [2, ")
		assert.Nil(t, parseErrs(t, fmt.Sprintf("broker:\n  embedded: true\n  limits: {%s: 2}\n", key)), key)
	}
}

// Two stores on one file would not start (the second open times out on
// the first's lock) and the agent would restart in a loop: every file the
// agent writes is compared, cleaned, with the others and the fixed ones.
func TestFilePathsDoNotCollide(t *testing.T) {
	const cloud = "cloud: {url: https://c.example.com, credential_file: /etc/cred}\n"
	for _, tc := range []struct{ name, yaml, want string }{
		{"buffer is the outbox", cloud + "buffer: {path: /d/outbox.db}\n", `buffer.path: "/d/outbox.db" is also the cloud outbox`},
		{"diagnoses is the outbox", cloud + "diagnoses: {path: /d/./outbox.db}\n", `diagnoses.path: "/d/outbox.db" is also the cloud outbox`},
		{"buffer is the calibration", "buffer: {path: /d/detector-calibration.json}\n", "buffer.path: \"/d/detector-calibration.json\" is also the detector calibration"},
		{"diagnoses is the trend", "diagnoses: {path: /d/health-trend.json}\n", `diagnoses.path: "/d/health-trend.json" is also the health trend`},
		{"buffer is the trend", "buffer: {path: /d/./health-trend.json}\n", `buffer.path: "/d/health-trend.json" is also the health trend`},
		// An atomic write truncates its temporary file every save.
		{"buffer is the trend's temporary file", "buffer: {path: /d/health-trend.json.tmp}\n", `buffer.path: "/d/health-trend.json.tmp" is also the health trend's temporary file`},
		{"diagnoses is the calibration's temporary file", "diagnoses: {path: /d/detector-calibration.json.tmp}\n", `diagnoses.path: "/d/detector-calibration.json.tmp" is also the detector calibration's temporary file`},
		{"buffer is update.dir", "buffer: {path: /d/update}\n", `buffer.path: "/d/update" is update.dir "/d/update" or in it`},
		{"diagnoses in update.dir", "diagnoses: {path: /d/update/h.db}\n", `diagnoses.path: "/d/update/h.db" is update.dir "/d/update" or in it`},
		{"unclean equal paths", "buffer: {path: /x//b.db}\ndiagnoses: {path: /x/b.db}\n", `diagnoses.path: "/x/b.db" is also buffer.path`},
		{"relative equal paths", "buffer: {path: h.db}\ndiagnoses: {path: /etc/h.db}\n", `diagnoses.path: "/etc/h.db" is also buffer.path`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := parseErrs(t, tc.yaml)
			require.Len(t, errs, 1, "%q", errs)
			assert.True(t, strings.HasPrefix(errs[0], tc.want), "got %q, want prefix %q", errs[0], tc.want)
		})
	}
	// Without a cloud link there is no outbox; distinct paths are fine.
	assert.Nil(t, parseErrs(t, "buffer: {path: /d/outbox.db}\n"))
	assert.Nil(t, parseErrs(t, "buffer: {path: /d/update.db}\ndiagnoses: {path: /d/updatex/h.db}\n"))
}

// windowing.cycle_anchor is an RFC 3339 time or "epoch", stored as the
// epoch's time so that a reader parsing RFC 3339 gets it; cycle alignment
// set in the config needs one (a cycle-aligned bundle is checked when the
// windowing opens it).
func TestCycleAnchor(t *testing.T) {
	base := []byte("rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n")
	cfg, err := Parse("a.yaml", base, []string{"RIG_AGENT_WINDOWING_CYCLE_ANCHOR=epoch"})
	require.NoError(t, err)
	assert.Equal(t, EpochAnchorTime, cfg.Windowing.CycleAnchor)
	assert.True(t, time.Unix(0, 0).Equal(cfg.Windowing.CycleAnchorTime()))
	assert.False(t, cfg.Windowing.CycleAnchorTime().IsZero(), "the epoch is not \"no anchor\"")
	parsed, err := time.Parse(time.RFC3339Nano, cfg.Windowing.CycleAnchor)
	require.NoError(t, err)
	assert.False(t, parsed.IsZero())

	cfg, err = Parse("a.yaml", append(base, "windowing: {alignment: cycle, cycle_anchor: 2026-03-01T06:00:03Z}\n"...), nil)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 3, 1, 6, 0, 3, 0, time.UTC), cfg.Windowing.CycleAnchorTime())

	cfg, err = Parse("a.yaml", base, nil)
	require.NoError(t, err, "no anchor: the bundle decides whether one is needed")
	assert.True(t, cfg.Windowing.CycleAnchorTime().IsZero())

	errs := parseErrs(t, "windowing: {alignment: cycle}\n")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], `windowing.cycle_anchor: is required with windowing.alignment "cycle"`)
	errs = parseErrs(t, "windowing: {alignment: sliding, cycle_anchor: epoch}\n")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], `windowing.cycle_anchor: "epoch" is set but windowing.alignment is "sliding"`)
	errs = parseErrs(t, "windowing: {cycle_anchor: Epoch}\n")
	require.Len(t, errs, 1)
	assert.Contains(t, errs[0], `"Epoch" is not an RFC 3339 time`)
}

// A bad list item set by the environment names the variable.
func TestEnvListItemNamesVariable(t *testing.T) {
	base := []byte("rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\n")
	_, err := Parse("a.yaml", base, []string{"RIG_AGENT_UPDATE_HARDWARE=arm64,Jetson Orin"})
	var es Errors
	require.True(t, errors.As(err, &es), "%v", err)
	require.Len(t, es, 1)
	assert.Equal(t, "environment RIG_AGENT_UPDATE_HARDWARE", es[0].File)
	assert.Equal(t, "update.hardware[1]", es[0].Path)
}
