package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
	"github.com/hydrognn/hydrognn/tools/internal/cloudrun"
)

// versioned copies the zema-testrig bundle with another version.
func versioned(t *testing.T, version string) string {
	t.Helper()
	src := "../../../models/bundles/zema-testrig"
	dst := t.TempDir()
	m, err := bundle.Load(src)
	require.NoError(t, err)
	for _, f := range []string{"model.fp32.onnx", "model.int8.onnx"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, f), b, 0o644))
	}
	m.Version = version
	require.NoError(t, bundle.Write(dst, m))
	return dst
}

// TestRolloutCommands publishes two releases to rig-cloud built from this
// checkout (its rollout engine stepping every second), then rolls 1.1.0
// out to three agents with rigctl: cohorts 1 and 2 agents with a 1 s
// soak, advanced by the engine as the agents report commits at check-in;
// status in both forms, pause, resume, rollback to 1.0.0, abort refused;
// then edit of a second rollout: refused while running, applied paused.
func TestRolloutCommands(t *testing.T) {
	bin := rigCloudBin(t)
	base := t.TempDir()
	repo, keys, offline := filepath.Join(base, "repo"), filepath.Join(base, "online"), filepath.Join(base, "offline")
	code, _, errOut := run(t, "keys", "init", "--dir", repo, "--keys", keys)
	require.Equal(t, ExitOK, code, errOut)
	require.NoError(t, os.Mkdir(offline, 0o700))
	for _, role := range []string{"root", "targets"} {
		pems, _ := filepath.Glob(filepath.Join(keys, role+"-*.pem"))
		for _, p := range pems {
			require.NoError(t, os.Rename(p, filepath.Join(offline, filepath.Base(p))))
		}
	}
	s, err := cloudrun.Start(context.Background(), cloudrun.Options{Bin: bin, AdminURL: os.Getenv("DATABASE_URL"),
		Env: []string{"RIG_CLOUD_RELEASES_REPO_DIR=" + repo, "RIG_CLOUD_RELEASES_ONLINE_KEYS_DIR=" + keys,
			"RIG_CLOUD_RELEASES_ROLLOUT_INTERVAL=1s", "RIG_CLOUD_AUTH_RATE_LIMIT=100000", "RIG_CLOUD_AUTH_RATE_BURST=100000"}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Stop()) })
	tok := exec.Command(bin, "token", "create", "--release", "--name", "release manager")
	tok.Env = append(os.Environ(), "RIG_CLOUD_DATABASE_URL="+s.DatabaseURL)
	out, err := tok.Output()
	require.NoError(t, err)
	rigctlEnv(t, s.URL, strings.TrimSpace(string(out)))
	root1 := filepath.Join(repo, "1.root.json")
	for _, v := range []string{"1.0.0", "1.1.0"} {
		code, _, errOut := run(t, "release", "publish", "--root", root1, "--keys", offline, "--bundle", versioned(t, v))
		require.Equal(t, ExitOK, code, errOut)
	}

	// Organisation acme: rigs zema-1..3 with an agent each; 1 and 2 on line a.
	ctx := context.Background()
	admin := seedFleet(t, s)
	c := cloudclient.New(s.URL, admin)
	creds := map[string]string{}
	for i := 1; i <= 3; i++ {
		rig, agent := fmt.Sprintf("zema-%d", i), fmt.Sprintf("rig-%03d", i)
		if i > 1 {
			require.NoError(t, c.Do(ctx, "POST", "/v1/rigs", nil, map[string]string{"rig_id": rig, "rig_type": "zema-testrig"}, nil))
		}
		var en fleetapi.Enrollment
		require.NoError(t, c.Do(ctx, "POST", "/v1/rigs/"+rig+"/enrollments", nil, nil, &en))
		var ag cloudapi.EnrollResponse
		require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: agent, RigID: rig}, &ag))
		creds[agent] = ag.Credential
	}
	t.Setenv(EnvToken, admin)
	code, stdout, errOut := run(t, "rollout", "label", "zema-1", "line=a")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "rig zema-1 labels: {\"line\":\"a\"}\n", stdout)
	code, _, errOut = run(t, "rollout", "label", "zema-2", "line=a", "--context", "")
	require.Equal(t, ExitOK, code, errOut)

	checkin := func(agent, installed string, u *cloudapi.UpdateStatus) *cloudapi.Offer {
		rig := "zema-" + strings.TrimLeft(strings.TrimPrefix(agent, "rig-"), "0")
		var raw json.RawMessage
		require.NoError(t, cloudclient.New(s.URL, creds[agent]).Do(ctx, "POST", cloudapi.PathCheckin, nil, cloudapi.CheckinRequest{
			AgentID: agent, RigID: rig, RigType: "zema-testrig", Time: time.Now().UTC(), Model: &diag.ModelRef{Version: installed}, Update: u,
			BundleFormats: &cloudapi.BundleFormats{Min: 1, Max: 2}}, &raw))
		r, err := cloudapi.DecodeCheckinResponse(raw)
		require.NoError(t, err)
		return r.Offer
	}
	status := func() rolloutapi.Rollout {
		code, stdout, errOut := run(t, "rollout", "status", "1", "--json")
		require.Equal(t, ExitOK, code, errOut)
		var r rolloutapi.Rollout
		require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
		return r
	}
	waitFor := func(what string, ok func(rolloutapi.Rollout) bool) rolloutapi.Rollout {
		deadline := time.Now().Add(20 * time.Second)
		for {
			r := status()
			if ok(r) {
				return r
			}
			require.True(t, time.Now().Before(deadline), "waiting for %s: %+v", what, r)
			time.Sleep(200 * time.Millisecond)
		}
	}

	code, _, errOut = run(t, "rollout", "create", "--release", "zema-testrig/zema-testrig-9.0.0.tar.gz")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "not in the repository")
	code, _, errOut = run(t, "rollout", "create", "--release", "x", "--cohorts", "1,abc")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "neither a count of agents nor a percentage")
	code, stdout, errOut = run(t, "rollout", "create", "--release", "zema-testrig/zema-testrig-1.1.0.tar.gz", "--cohorts", "1,100%", "--soak", "1s")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "rollout 1 running: zema-testrig/zema-testrig-1.1.0.tar.gz (1.1.0) to 3 agents in cohorts of 1, 2\n", stdout)
	// No agent checked in yet: previous 1.0.0 is the fallback, and the
	// answer's warning is printed (review r11, F3).
	assert.Contains(t, errOut, "rollout create: warning: previous release zema-testrig/zema-testrig-1.0.0.tar.gz (version 1.0.0) is a fallback")

	r := status()
	require.Len(t, r.AgentStates, 3)
	require.NotNil(t, r.Previous)
	assert.Equal(t, "1.0.0", r.Previous.Version)
	first := r.AgentStates[0].AgentID
	assert.Equal(t, rolloutapi.AgentOffered, r.AgentStates[0].State)
	for agent := range creds {
		o := checkin(agent, "1.0.0", nil)
		if agent == first {
			require.NotNil(t, o)
			assert.Equal(t, "zema-testrig/zema-testrig-1.1.0.tar.gz", o.Target)
		} else {
			assert.Nil(t, o, "%s is in the second cohort", agent)
		}
	}
	checkin(first, "1.1.0", &cloudapi.UpdateStatus{State: "committed", Installed: "1.1.0", Previous: "1.0.0", Changed: time.Now().UTC()})
	r = waitFor("the engine to start cohort 1", func(r rolloutapi.Rollout) bool { return r.Cohort == 1 })
	assert.Equal(t, rolloutapi.CohortSucceeded, r.Cohorts[0].State)

	// The table form.
	code, stdout, errOut = run(t, "rollout", "status", "1")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^rollout 1: running$`, stdout)
	assert.Regexp(t, `(?m)^release:\s+zema-testrig/zema-testrig-1.1.0.tar.gz \(1.1.0, bundle format 2, firmware config sha256:[0-9a-f]{64}\)$`, stdout)
	assert.Regexp(t, `(?m)^COHORT\s+SIZE\s+SOAK\s+STATE\s+STARTED\s+OFFERED\s+DOWNLOADING\s+CANARY\s+COMMITTED\s+FAILED\s+ROLLED BACK\s+INCOMPATIBLE$`, stdout)
	assert.Regexp(t, `(?m)^0\s+1\s+1s\s+succeeded\s+20\S+\s+0\s+0\s+0\s+1\s+0\s+0\s+0$`, stdout)
	assert.Regexp(t, `(?m)^1\s+2\s+1s\s+soaking\s+20\S+\s+2\s+0\s+0\s+0\s+0\s+0\s+0$`, stdout)
	assert.NotContains(t, stdout, "incompatible:")
	assert.Regexp(t, `(?m)^`+first+`\s+zema-\d\s+0\s+committed\s+20`, stdout)

	code, stdout, errOut = run(t, "rollout", "pause", "1")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "rollout 1: paused (pause by an operator)\n", stdout)
	code, _, errOut = run(t, "rollout", "pause", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "409")
	for agent := range creds {
		installed := "1.0.0"
		if agent == first {
			installed = "1.1.0"
		}
		assert.Nil(t, checkin(agent, installed, nil), "paused: no offer")
	}
	code, _, errOut = run(t, "rollout", "resume", "1")
	require.Equal(t, ExitOK, code, errOut)
	for agent := range creds {
		if agent != first {
			require.NotNil(t, checkin(agent, "1.0.0", &cloudapi.UpdateStatus{State: "downloading", Installed: "1.0.0",
				Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Changed: time.Now().UTC()}))
			checkin(agent, "1.1.0", &cloudapi.UpdateStatus{State: "committed", Installed: "1.1.0", Changed: time.Now().UTC()})
		}
	}
	r = waitFor("the rollout to complete", func(r rolloutapi.Rollout) bool { return r.State == rolloutapi.Completed })
	assert.Equal(t, 3, r.Counts[rolloutapi.AgentCommitted])
	// The engine's pass that completed the rollout refreshes the gauge
	// right after its steps.
	var metrics []byte
	for deadline := time.Now().Add(10 * time.Second); ; {
		res, err := http.Get(s.URL + "/metrics")
		require.NoError(t, err)
		metrics, err = io.ReadAll(res.Body)
		res.Body.Close()
		require.NoError(t, err)
		if strings.Contains(string(metrics), `rig_cloud_rollouts{state="completed"} 1`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Contains(t, string(metrics), `rig_cloud_rollouts{state="completed"} 1`)
	assert.Contains(t, string(metrics), `rig_cloud_rollouts{state="running"} 0`)
	assert.Contains(t, string(metrics), `rig_cloud_rollout_events_total{event="advanced"} 1`)
	assert.Contains(t, string(metrics), `rig_cloud_rollout_events_total{event="completed"} 1`)
	assert.Contains(t, string(metrics), "rig_cloud_rollout_step_errors_total 0")
	assert.Contains(t, string(metrics), "go_goroutines")

	code, stdout, errOut = run(t, "rollout", "list")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^1\s+zema-testrig/zema-testrig-1.1.0.tar.gz\s+1.1.0\s+completed\s+2/2\s+3\s+3\s+0\s+0\s+0\s+20`, stdout)

	code, stdout, errOut = run(t, "rollout", "rollback", "1", "--json")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, stdout, `"state": "rolled_back"`)
	for agent := range creds {
		o := checkin(agent, "1.1.0", nil)
		require.NotNil(t, o)
		assert.Equal(t, cloudapi.Offer{Target: "zema-testrig/zema-testrig-1.0.0.tar.gz", Version: "1.0.0", Rollout: 1}, *o)
	}
	code, _, errOut = run(t, "rollout", "abort", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "cannot abort rollout 1: it is rolled_back")

	// Labels select: line a is zema-1 and zema-2.
	code, stdout, errOut = run(t, "rollout", "create", "--release", "zema-testrig/zema-testrig-1.1.0.tar.gz", "--label", "line=a", "--json")
	require.Equal(t, ExitOK, code, errOut)
	var l rolloutapi.Rollout
	require.NoError(t, json.Unmarshal([]byte(stdout), &l))
	assert.Equal(t, 2, l.Agents)
	require.Len(t, l.Warnings, 1, "the agents serve 1.1.0 itself: previous 1.0.0 is the fallback")
	assert.Contains(t, errOut, "rollout create: warning: "+l.Warnings[0], "printed with --json too")

	// Edit: refused while running, then the paused rollout's thresholds
	// and soak, shown like status (table) or as JSON.
	code, _, errOut = run(t, "rollout", "edit", "2", "--failure-threshold", "0.5")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "409")
	assert.Contains(t, errOut, "cannot edit rollout 2: it is running: pause it first")
	code, _, errOut = run(t, "rollout", "edit", "2")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "nothing to change: give --success-threshold, --failure-threshold or --soak")
	code, _, errOut = run(t, "rollout", "edit", "two", "--soak", "1m")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `"two" is not an id`)
	code, _, errOut = run(t, "rollout", "pause", "2")
	require.Equal(t, ExitOK, code, errOut)
	code, _, errOut = run(t, "rollout", "edit", "2", "--failure-threshold", "1.5", "--soak", "-1s")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "/failure_threshold: 1.5 is not in (0, 1]")
	assert.Contains(t, errOut, "/soak_s: -1 is not in [0, 2.592e+06]")
	code, stdout, errOut = run(t, "rollout", "edit", "2", "--failure-threshold", "0.5", "--soak", "10m")
	require.Equal(t, ExitOK, code, errOut)
	assert.Regexp(t, `(?m)^rollout 2: paused$`, stdout)
	assert.Regexp(t, `(?m)^reason:\s+edit by an operator: failure_threshold 0.1 -> 0.5, soak_s 3600 -> 600 from cohort 0; pause by an operator$`, stdout)
	assert.Regexp(t, `(?m)^thresholds: success 0.9, failure 0.5$`, stdout)
	assert.Regexp(t, `(?m)^0\s+1\s+10m0s\s+soaking\s`, stdout)
	assert.Regexp(t, `(?m)^1\s+1\s+10m0s\s+pending\s`, stdout)
	code, stdout, errOut = run(t, "rollout", "edit", "2", "--success-threshold", "0.6", "--json")
	require.Equal(t, ExitOK, code, errOut)
	require.NoError(t, json.Unmarshal([]byte(stdout), &l), stdout)
	assert.Equal(t, []float64{0.6, 0.5}, []float64{l.SuccessThreshold, l.FailureThreshold})
	assert.Equal(t, rolloutapi.Paused, l.State)
	code, stdout, errOut = run(t, "rollout", "abort", "2")
	require.Equal(t, ExitOK, code, errOut)
	assert.Equal(t, "rollout 2: aborted (abort by an operator)\n", stdout)
}
