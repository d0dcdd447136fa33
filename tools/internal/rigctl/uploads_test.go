package rigctl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// miniZemaYAML is a firmware config of the zema-testrig type with two
// sensors and a 4 s cycle: small windows for a fleet data set.
const miniZemaYAML = `api_version: hydrognn/v1
rig_type: zema-testrig
topology_version: "1"
equipment: {id: zema-1}
operation: {cycle_s: 4}
components:
  - {id: tank, type: reservoir}
  - {id: pump, type: pump, nominal: {displacement_cc: 10, speed_rpm: 1500}}
connections:
  - {from: tank, to: pump, line: suction}
  - {from: pump, to: tank, line: return}
sensors:
  - {id: PS1, kind: pressure, unit: bar, rate_hz: 1, range: {min: 0, max: 250}, component: pump, port: out, mqtt: {topic: rig/ps1, codec: json}}
  - {id: TS1, kind: temperature, unit: C, rate_hz: 2, range: {min: 0, max: 100}, component: tank, mqtt: {topic: rig/ts1, codec: json}}
targets:
  - name: pump
    component: pump
    kind: condition
    classes:
      - {value: 0, label: no leakage, health: 1}
      - {value: 1, label: weak leakage, health: 0.7, fault: leakage}
`

// rigctl uploads request|list and dataset create --from-uploads against a
// rig-cloud built from this checkout: a request, the agent's upload, the
// data set with its table and JSON, the server's refusals, usage errors.
func TestFleetUploadCommands(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	ctx := context.Background()
	rigFile := filepath.Join(t.TempDir(), "mini.yaml")
	require.NoError(t, os.WriteFile(rigFile, []byte(miniZemaYAML), 0o644))
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	from, to := t0.Format(time.RFC3339), t0.Add(time.Minute).Format(time.RFC3339)

	code, stdout, stderr := run(t, "uploads", "request", "--rig", "zema-1", "--from", from, "--to", to)
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^upload request up-1: rig zema-1, 2025-03-01T12:00:00Z to 2025-03-01T12:01:00Z, open until \S+\n$`, stdout)

	// The rig's agent learns it at check-in and uploads 40 s of readings.
	c := cloudclient.New(s.URL, admin)
	var en fleetapi.Enrollment
	require.NoError(t, c.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &en))
	var ag cloudapi.EnrollResponse
	require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-002"}, &ag))
	agent := cloudclient.New(s.URL, ag.Credential)
	var cr cloudapi.CheckinResponse
	require.NoError(t, agent.Do(ctx, "POST", cloudapi.PathCheckin, nil,
		cloudapi.CheckinRequest{AgentID: "rig-002", RigID: "zema-1", RigType: "zema-testrig", Time: time.Now()}, &cr))
	require.Len(t, cr.UploadRequests, 1)
	var rs []reading.Reading
	for ts := t0; ts.Before(t0.Add(40 * time.Second)); ts = ts.Add(500 * time.Millisecond) {
		if ts.Nanosecond() == 0 {
			rs = append(rs, reading.Reading{Sensor: "PS1", Time: ts, Value: 150})
		}
		rs = append(rs, reading.Reading{Sensor: "TS1", Time: ts, Value: 40})
	}
	var ur cloudapi.UploadResponse
	require.NoError(t, agent.Do(ctx, "POST", cloudapi.PathUploads, nil,
		cloudapi.Upload{AgentID: "rig-002", RequestID: cr.UploadRequests[0].ID, Part: 0, Last: true, Readings: rs}, &ur))
	assert.True(t, ur.Done)

	code, stdout, stderr = run(t, "uploads", "list", "--rig", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^ID\s+RIG\s+FROM\s+TO\s+STATE\s+PARTS\s+READINGS\s+EXPIRES\n`+
		`up-1\s+zema-1\s+2025-03-01T12:00:00Z\s+2025-03-01T12:01:00Z\s+done\s+1\s+120\s+\S+\n$`, stdout)

	// A worker builds the data sets the commands ask for; they wait.
	wlog, stopWorker := startWorker(t, s)

	code, stdout, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-1", "--label", "pump=1", "--interval", "100ms")
	require.Equal(t, ExitOK, code, "%s\nworker: %s", stderr, wlog())
	assert.Regexp(t, `^data set 1 fleet-1: uci from fleet uploads, rig type zema-testrig, ready, 10 windows, archive [0-9.]+ KB sha256:[0-9a-f]{64}\n`+
		`labels: pump=1\n`+
		`RIG\s+READINGS\s+WINDOWS\s+SKIPPED\n`+
		`zema-1\s+120\s+10\s+0\n$`, stdout)
	assert.Regexp(t, `(?m)^data set 1 fleet-1: building: (queued|reading|storing), rigs [01]/1, \d+ readings, \d+ windows$`, stderr)

	code, stdout, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-2", "--json", "--interval", "100ms")
	require.Equal(t, ExitOK, code, stderr)
	var out fleetapi.Dataset
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	assert.Equal(t, "fleet", out.Source)
	assert.Equal(t, "ready", out.State)
	require.NotNil(t, out.Build)
	assert.Equal(t, 10, out.Build.Windows)
	assert.Equal(t, map[string]float64{"pump": 0}, out.Build.Labels, "the normal class")

	// --no-wait returns with the data set building; dataset get --wait
	// waits for it.
	code, stdout, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-3", "--no-wait")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "data set 3 fleet-3: uci from fleet uploads of zema-1, 2025-03-01T12:00:00Z to 2025-03-01T12:01:00Z, rig type zema-testrig, building\n"+
		"labels: pump=0\n", stdout)
	code, stdout, stderr = run(t, "dataset", "get", "3", "--wait", "--interval", "100ms")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^data set 3 fleet-3: uci from fleet uploads, rig type zema-testrig, ready, 10 windows`, stdout)
	code, stdout, stderr = run(t, "dataset", "get", "3")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^data set 3 fleet-3: .* ready, 10 windows`, stdout)

	// A build that fails exits 1 with the server's reason.
	late := t0.Add(time.Hour).Format(time.RFC3339)
	code, stdout, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", late, "--to", t0.Add(2*time.Hour).Format(time.RFC3339),
		"--rig", rigFile, "--name", "empty", "--interval", "100ms")
	assert.Equal(t, ExitFailure, code, stderr)
	assert.Contains(t, stdout, "data set 4 empty: uci from fleet uploads of zema-1")
	assert.Contains(t, stdout, "failed\n")
	assert.Contains(t, stderr, "rigctl: dataset create: data set 4 empty failed: no complete window of 4 s in 2025-03-01T13:00:00Z..2025-03-01T14:00:00Z: rig zema-1: 0 readings")
	code, stdout, stderr = run(t, "dataset", "get", "4")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "error: no complete window")
	code, _, stderr = run(t, "jobs", "create", "--dataset", "4")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
	assert.Contains(t, stderr, "failed to build")

	// dataset cancel: a ready data set is refused; with the worker
	// stopped, a queued build is cancelled at once.
	code, _, stderr = run(t, "dataset", "cancel", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
	assert.Contains(t, stderr, "data set 1 is ready: only a building data set can be cancelled")
	require.NoError(t, stopWorker())
	code, _, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-5", "--no-wait")
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "dataset", "cancel", "5")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^data set 5 fleet-5: uci from fleet uploads of zema-1, 2025-03-01T12:00:00Z to 2025-03-01T12:01:00Z, rig type zema-testrig, failed\n`+
		`labels: pump=0\n`+
		`error: cancelled by token "admin" \(id \d+\)\n$`, stdout)
	code, _, stderr = run(t, "dataset", "cancel", "5")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
	code, _, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-6", "--no-wait")
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "dataset", "cancel", "6", "--json")
	require.Equal(t, ExitOK, code, stderr)
	out = fleetapi.Dataset{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), stdout)
	assert.Equal(t, "failed", out.State)
	require.NotNil(t, out.Error)
	assert.Regexp(t, `^cancelled by token "admin"`, *out.Error)
	// --wait on a queued build: cancelled at once, nothing to wait for.
	code, _, stderr = run(t, "dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", from, "--to", to,
		"--rig", rigFile, "--name", "fleet-7", "--no-wait")
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "dataset", "cancel", "7", "--wait", "--interval", "50ms")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "data set 7 fleet-7:")
	assert.Regexp(t, `error: cancelled by token "admin" \(id \d+\)\n$`, stdout)
	code, _, stderr = run(t, "dataset", "cancel", "99")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "404")

	code, stdout, stderr = run(t, "uploads", "list", "--state", "open", "--json")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "[]\n", stdout)

	code, _, stderr = run(t, "uploads", "request", "--rig", "zema-1", "--from", to, "--to", t0.Add(time.Hour).Format(time.RFC3339))
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "uploads", "cancel", "up-2")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "upload request up-2: cancelled (0 parts, 0 readings kept)\n", stdout)
	code, _, stderr = run(t, "uploads", "cancel", "up-1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")

	// The server's refusals are printed (exit 1); usage errors exit 2.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rigs", "nope", "--name", "x"}, "404"},
		{[]string{"--rigs", "zema-1", "--name", "fleet-1"}, "409"},
		{[]string{"--rigs", "zema-1", "--name", "x", "--label", "pump=7"}, "7 is not a class of target"},
	} {
		code, _, stderr = run(t, append([]string{"dataset", "create", "--from-uploads", "--from", from, "--to", to, "--rig", rigFile}, tc.args...)...)
		assert.Equal(t, ExitFailure, code, stderr)
		assert.Contains(t, stderr, tc.want)
	}
	code, _, stderr = run(t, "uploads", "request", "--rig", "zema-1", "--from", to, "--to", from)
	assert.Equal(t, ExitFailure, code, stderr)
	assert.Contains(t, stderr, "400")
	for _, args := range [][]string{
		{"dataset", "create", "--rigs", "zema-1", "--from", from, "--to", to, "--rig", rigFile, "--name", "x"},
		{"dataset", "create", "--from-uploads", "--rigs", "zema-1", "--from", "yesterday", "--to", to, "--rig", rigFile, "--name", "x"},
		{"dataset", "create", "--from-uploads", "--label", "pump"},
		{"dataset", "get"},
		{"dataset", "get", "x"},
		{"dataset", "cancel"},
		{"dataset", "cancel", "0"},
		{"dataset", "cancel", "1", "2"},
		{"dataset", "cancel", "1", "--interval", "0s"},
		{"uploads", "request", "--rig", "zema-1"},
		{"uploads", "frobnicate"},
		{"uploads", "cancel"},
		{"uploads", "list", "extra"},
	} {
		code, _, _ = run(t, args...)
		assert.Equal(t, ExitUsage, code, "%v", args)
	}
}
