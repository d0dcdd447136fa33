package rigctl

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/testenv"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
	"github.com/hydrognn/hydrognn/tools/internal/cloudrun"
)

// checkoutBinary is a command built from this checkout, once per test
// binary, when a test first asks for one (buildCheckoutBinaries). Safe
// for parallel tests.
type checkoutBinary struct {
	pkg     string // the main package, relative to the repository root
	ldflags string // go build -ldflags for this package ("": none)
	path    string // the binary; go build's output when err is set
	err     error
}

var (
	cloudBinary  = &checkoutBinary{pkg: "./cloud/cmd/rig-cloud"}
	agentBinary  = &checkoutBinary{pkg: "./agent/cmd/rig-agent"}
	rigsimBinary = &checkoutBinary{pkg: "./tools/cmd/rigsim"}
	// rigctlBinary is rigctl itself, its version "test" as run gives it.
	rigctlBinary = &checkoutBinary{pkg: "./tools/cmd/rigctl", ldflags: "-X main.version=test"}

	checkoutBinaries = []*checkoutBinary{cloudBinary, agentBinary, rigsimBinary, rigctlBinary}
	buildOnce        sync.Once
)

// TestMain removes the folders of the binaries built for the tests once
// they have run (go test's own temporary folders are its; these are not).
func TestMain(m *testing.M) {
	code := m.Run()
	for _, b := range checkoutBinaries {
		if b.err == nil && b.path != "" {
			_ = os.RemoveAll(filepath.Dir(b.path))
		}
	}
	os.Exit(code)
}

// buildCheckoutBinaries builds every checkoutBinary with one go build
// into a temporary folder: go links them in parallel, in about half the
// time of four builds one after another, which the first tests to ask
// for each paid (on a loaded 2-core machine, warm build cache: 14.7 s for
// `go build -o DIR/NAME PKG` of each in turn, 7.5 s for one `go build -o
// DIR/ PKG...` of the four). A failed build sets every binary's err and
// its path to go build's output.
func buildCheckoutBinaries() {
	dir, err := os.MkdirTemp("", "rigctl-test-bin-")
	if err != nil {
		for _, b := range checkoutBinaries {
			b.err = err
		}
		return
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, b := range checkoutBinaries {
		if b.ldflags != "" {
			args = append(args, "-ldflags", b.pkg+"="+b.ldflags)
		}
	}
	for _, b := range checkoutBinaries {
		args = append(args, b.pkg)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = "../../.."
	out, err := cmd.CombinedOutput()
	for _, b := range checkoutBinaries {
		if b.path = filepath.Join(dir, filepath.Base(b.pkg)); err != nil {
			b.err, b.path = err, string(out)
		}
	}
	if err != nil {
		_ = os.RemoveAll(dir)
	}
}

// build returns the binary's path, building the checkout's binaries on
// the first call (buildCheckoutBinaries); a failed build fails t (every
// time one is asked for).
func (b *checkoutBinary) build(t testing.TB) string {
	t.Helper()
	buildOnce.Do(buildCheckoutBinaries)
	require.NoError(t, b.err, "go build %s: %s", filepath.Base(b.pkg), b.path)
	return b.path
}

// rigCloudBin is rig-cloud built from this checkout; it skips t without
// a database to run it on (fails it under HYDROGNN_REQUIRE_SERVICES=1:
// shared/testenv).
func rigCloudBin(t *testing.T) string {
	t.Helper()
	testenv.Env(t, "DATABASE_URL", testenv.PostgreSQL)
	return cloudBinary.build(t)
}

// startCloud runs rig-cloud on a throwaway database for the test.
func startCloud(t *testing.T) *cloudrun.Server {
	t.Helper()
	s, err := cloudrun.Start(context.Background(), cloudrun.Options{Bin: rigCloudBin(t), AdminURL: os.Getenv("DATABASE_URL"),
		Env: []string{"RIG_CLOUD_AUTH_RATE_LIMIT=100000", "RIG_CLOUD_AUTH_RATE_BURST=100000"}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Stop()) })
	return s
}

// startWorker runs a rig-cloud worker for s, polling every 100 ms, until
// stop or the test's end; wlog reads what it has logged so far.
func startWorker(t *testing.T, s *cloudrun.Server) (wlog func() string, stop func() error) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "worker.log")
	wf, err := os.Create(logPath)
	require.NoError(t, err)
	t.Cleanup(func() { _ = wf.Close() })
	stopWorker, err := s.StartWorker(wf, "RIG_CLOUD_WORKER_POLL_INTERVAL=100ms")
	require.NoError(t, err)
	t.Cleanup(func() { _ = stopWorker() })
	return func() string { b, _ := os.ReadFile(logPath); return string(b) }, stopWorker
}

// seedFleet makes organisation acme with an admin token, rig zema-1 and
// agent rig-001 that sent two diagnoses, one opening an alert.
func seedFleet(t *testing.T, s *cloudrun.Server) (admin string) {
	t.Helper()
	ctx := context.Background()
	sys := cloudclient.New(s.URL, s.SystemToken)
	var org fleetapi.Org
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs", nil, map[string]string{"slug": "acme", "name": "Acme"}, &org))
	var tok fleetapi.TokenResponse
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs/1/tokens", nil, map[string]string{"name": "admin", "role": "admin"}, &tok))
	c := cloudclient.New(s.URL, tok.Secret)
	require.NoError(t, c.Do(ctx, "POST", "/v1/rigs", nil, map[string]string{"rig_id": "zema-1", "rig_type": "zema-testrig"}, nil))
	var en fleetapi.Enrollment
	require.NoError(t, c.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &en))
	var ag cloudapi.EnrollResponse
	require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-001"}, &ag))
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	d := func(seq uint64, at time.Time, health float64, an []diag.Anomaly) diag.Diagnosis {
		return diag.Diagnosis{RigID: "zema-1", RigType: "zema-testrig", AgentID: "rig-001", Seq: seq, CreatedAt: at,
			Window: diag.Window{Start: at.Add(-time.Minute), End: at, Steps: 60, Coverage: 1}, Model: diag.ModelRef{Version: "zema-2025.03"},
			Health: health, Status: diag.Healthy, Components: []diag.ComponentHealth{{ID: "pump", Health: health, Status: diag.Healthy}},
			Anomalies: an}
	}
	batch := cloudapi.DiagnosisBatch{AgentID: "rig-001", Diagnoses: []diag.Diagnosis{
		d(1, t0, 0.95, nil),
		d(2, t0.Add(time.Hour), 0.4, []diag.Anomaly{{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.8, Components: []string{"pump"}}}),
	}}
	var br cloudapi.BatchResponse
	require.NoError(t, cloudclient.New(s.URL, ag.Credential).Do(ctx, "POST", "/v1/agent/diagnoses", nil, batch, &br))
	require.Equal(t, 2, br.Accepted, "%+v", br)
	return tok.Secret
}

func TestFleetCommands(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv(EnvServer, "")
	t.Setenv(EnvToken, "")

	code, _, stderr := run(t, "rigs", "list")
	require.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "not logged in: run rigctl login")

	code, stdout, stderr := run(t, "login", "--server", s.URL, "--token", "rgt_wrong", "--name", "prod")
	require.Equal(t, ExitFailure, code, stdout)
	assert.Contains(t, stderr, "rigctl: login: 401 Missing or invalid credential: the credential is unknown")

	code, stdout, stderr = run(t, "login", "--server", s.URL, "--token", admin, "--name", "prod")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "as organisation acme")
	file := filepath.Join(cfg, "hydrognn", "rigctl-contexts.json")
	fi, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	code, _, stderr = run(t, "login", "--server", s.URL, "--token", s.SystemToken, "--name", "system")
	require.Equal(t, ExitOK, code, stderr)

	code, stdout, _ = run(t, "context", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^\s+prod\s+http://`, stdout)
	assert.Regexp(t, `(?m)^\*\s+system\s+http://`, stdout)
	assert.NotContains(t, stdout, "rgt_", "tokens are never printed")
	code, _, stderr = run(t, "context", "use", "nope")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `no context "nope"`)
	code, _, _ = run(t, "context", "use", "prod")
	require.Equal(t, ExitOK, code)

	code, stdout, stderr = run(t, "rigs", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^RIG\s+TYPE\s+SITE\s+CREATED\n^zema-1\s+zema-testrig\s+-\s+20`, stdout)
	code, stdout, _ = run(t, "rigs", "list", "--json")
	require.Equal(t, ExitOK, code)
	var rigs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rigs), stdout)
	require.Len(t, rigs, 1)
	assert.Equal(t, "zema-1", rigs[0]["rig_id"])

	code, stdout, stderr = run(t, "rigs", "status", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "rig zema-1 (zema-testrig)")
	assert.Contains(t, stdout, "health 0.40")
	assert.Contains(t, stdout, "open alerts  1")
	assert.Regexp(t, `(?m)^rig-001\s+never\s+-`, stdout)
	code, stdout, _ = run(t, "rigs", "status", "zema-1", "--json")
	require.Equal(t, ExitOK, code)
	var st fleetapi.RigStatus
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	assert.Equal(t, 1, st.OpenAlerts)
	assert.Nil(t, st.Agents[0].Update)

	// A check-in with the agent's model update state (re-enrolled for a
	// credential: seedFleet keeps its own).
	ctx := context.Background()
	adm := cloudclient.New(s.URL, admin)
	var en fleetapi.Enrollment
	require.NoError(t, adm.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &en))
	var ag cloudapi.EnrollResponse
	require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-001"}, &ag))
	upd := &cloudapi.UpdateStatus{State: "canary", Installed: "1.0.0", Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", TargetVersion: "1.1.0",
		Rollout: 3, Changed: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	require.NoError(t, cloudclient.New(s.URL, ag.Credential).Do(ctx, "POST", cloudapi.PathCheckin, nil, cloudapi.CheckinRequest{
		AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", Time: time.Now().UTC(), Model: &diag.ModelRef{Version: "1.0.0"}, Update: upd,
		BundleFormats: &cloudapi.BundleFormats{Min: 1, Max: 2}}, nil))
	code, stdout, stderr = run(t, "rigs", "status", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^AGENT\s+LINK\s+LAST CHECK-IN\s+VERSION\s+MODEL\s+UPDATE\s+OUTBOX`, stdout)
	assert.Regexp(t, `(?m)^rig-001\s+online\s+20\S+\s+-\s+1\.0\.0\s+canary 1\.1\.0 rollout 3\s+0\s+-`, stdout)
	assert.Regexp(t, `(?m)^AGENT\s.*\sSKEW MS\s+FORMATS\s+FIRMWARE$`, stdout)
	assert.Regexp(t, `(?m)^rig-001\s.*\s1-2\s+-$`, stdout)
	code, stdout, _ = run(t, "rigs", "status", "zema-1", "--json")
	require.Equal(t, ExitOK, code)
	st = fleetapi.RigStatus{}
	require.NoError(t, json.Unmarshal([]byte(stdout), &st), stdout)
	require.Len(t, st.Agents, 1)
	assert.Equal(t, upd, st.Agents[0].Update)
	assert.Equal(t, &cloudapi.BundleFormats{Min: 1, Max: 2}, st.Agents[0].BundleFormats)

	code, _, stderr = run(t, "rigs", "status", "nope")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: rigs status nope: 404 Not found: GET /v1/rigs/nope/status: no such object in your organisation (request req-")

	code, stdout, stderr = run(t, "diagnoses", "list", "--rig", "zema-1", "--from", "2025-03-01T00:00:00Z", "--to", "2025-03-02T00:00:00Z")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^2025-03-01T11:59:00Z\s+rig-001\s+1\s+0.95\s+healthy\s+zema-2025.03\s+-$`, stdout)
	assert.Regexp(t, `(?m)^2025-03-01T12:59:00Z\s+rig-001\s+2\s+0.40\s+healthy\s+zema-2025.03\s+pump:leakage\(high\)$`, stdout)
	code, stdout, _ = run(t, "diagnoses", "list", "--rig", "zema-1", "--from", "2025-03-01T00:00:00Z", "--to", "2025-03-02T00:00:00Z", "--json", "--limit", "1")
	require.Equal(t, ExitOK, code)
	var ds []diag.Diagnosis
	require.NoError(t, json.Unmarshal([]byte(stdout), &ds), stdout)
	require.Len(t, ds, 1)
	code, _, stderr = run(t, "diagnoses", "list", "--rig", "zema-1", "--from", "2025-03-02T00:00:00Z", "--to", "2025-03-01T00:00:00Z")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "400 Invalid parameter: from 2025-03-02T00:00:00Z is not before to")

	code, stdout, stderr = run(t, "rigs", "health", "zema-1", "pump", "--from", "2025-03-01T00:00:00Z", "--to", "2025-03-02T00:00:00Z")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^START\s+WINDOWS\s+UNKNOWN\s+MISSING\s+AVG HEALTH\s+MIN HEALTH\s+WORST STATUS\n`+
		`2025-03-01T11:00:00Z\s+1\s+0\s+0\s+0.95\s+0.95\s+healthy\n2025-03-01T12:00:00Z\s+1\s+0\s+0\s+0.40\s+0.40\s+healthy\n$`, stdout)
	code, stdout, _ = run(t, "rigs", "health", "--bucket", "1d", "zema-1", "pump", "--to", "2025-03-02T00:00:00Z", "--json")
	require.Equal(t, ExitOK, code)
	var hh struct {
		Bucket  string `json:"bucket"`
		Buckets []struct {
			Windows   int     `json:"windows"`
			AvgHealth float64 `json:"avg_health"`
		} `json:"buckets"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &hh), stdout)
	assert.Equal(t, "1d", hh.Bucket)
	require.Len(t, hh.Buckets, 1)
	assert.Equal(t, 2, hh.Buckets[0].Windows)
	assert.InDelta(t, 0.675, hh.Buckets[0].AvgHealth, 1e-9)
	code, _, stderr = run(t, "rigs", "health", "zema-1", "pump", "--bucket", "1w")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `400 Invalid parameter: bucket "1w" is not 1h or 1d`)
	code, _, stderr = run(t, "rigs", "health", "nope", "pump")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "404")
	code, _, _ = run(t, "rigs", "health", "zema-1")
	assert.Equal(t, ExitUsage, code)

	code, stdout, stderr = run(t, "alerts", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^1\s+zema-1\s+pump\s+leakage\s+high\s+open\s+`, stdout)
	code, stdout, _ = run(t, "alerts", "ack", "1")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "alert 1 (high pump leakage on zema-1): acknowledged\n", stdout)
	code, stdout, _ = run(t, "alerts", "resolve", "1", "--json")
	require.Equal(t, ExitOK, code)
	var al fleetapi.Alert
	require.NoError(t, json.Unmarshal([]byte(stdout), &al))
	assert.Equal(t, "resolved", al.State)
	code, _, stderr = run(t, "alerts", "ack", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: alerts ack 1: 409 ")
	code, stdout, _ = run(t, "alerts", "list", "--state", "open", "--json")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "[]\n", stdout)
	code, _, stderr = run(t, "alerts", "list", "--state", "bogus")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `400 Invalid parameter: state "bogus" is not open, acknowledged or resolved`)

	// The system token may not read the fleet: a clear 403.
	code, _, stderr = run(t, "rigs", "list", "--context", "system")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "403 Not allowed for this credential: a system token manages organisations only")

	// The environment's pair replaces the current context; an explicit
	// --context beats it (TestFleetClientEnvironment: one alone is ignored).
	t.Setenv(EnvServer, s.URL)
	t.Setenv(EnvToken, "rgt_revoked")
	code, _, stderr = run(t, "rigs", "list")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "401 Missing or invalid credential")
	code, _, stderr = run(t, "rigs", "list", "--context", "prod")
	assert.Equal(t, ExitOK, code, stderr)
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	code, _, stderr = run(t, "rigs", "list")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "127.0.0.1:1")
	t.Setenv(EnvToken, "")

	code, _, _ = run(t, "rigs")
	assert.Equal(t, ExitUsage, code)
	code, _, _ = run(t, "rigs", "status")
	assert.Equal(t, ExitUsage, code)
	code, _, _ = run(t, "diagnoses", "list")
	assert.Equal(t, ExitUsage, code)
}
