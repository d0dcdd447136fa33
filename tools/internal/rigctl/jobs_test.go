package rigctl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// waitJob polls job id until it is finished and returns it.
func waitJob(t *testing.T, c *cloudclient.Client, id string) fleetapi.Job {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var j fleetapi.Job
		require.NoError(t, c.Do(context.Background(), "GET", "/v1/training/jobs/"+id, nil, nil, &j))
		if j.Finished() {
			return j
		}
		require.True(t, time.Now().Before(deadline), "job %s still %s", id, j.State)
		time.Sleep(100 * time.Millisecond)
	}
}

// rigctl jobs and models against rig-cloud and a rig-cloud worker built
// from this checkout: two tiny jobs are trained, registered and compared,
// a third is cancelled.
func TestJobsAndModelsCommands(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	c := cloudclient.New(s.URL, admin)

	dir := zemaUCI(t, 8, 4)
	code, _, stderr := run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile)
	require.Equal(t, ExitOK, code, stderr)

	// Nothing yet.
	code, stdout, stderr := run(t, "jobs", "list", "--json")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "[]\n", stdout)
	code, stdout, _ = run(t, "models", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `^RIG TYPE\s+VERSION\s+BUNDLE\s+JOB\s+DATASET\s+BACKEND\s+MEAN F1\s+CREATED\n$`, stdout)

	tiny := `{"patience":-1,"int8":"none","sizes":{"hidden":8,"heads":2,"layers":1,"head_hidden":8}}`
	code, stdout, stderr = run(t, "jobs", "create", "--dataset", "1", "--config", tiny, "--epochs", "2", "--batch-size", "8", "--seed", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^job 1 queued: data set 1, rig type zema-testrig, config \{.*"epochs":2.*"seed":1.*\}\n$`, stdout)
	code, stdout, _ = run(t, "jobs", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^ID\s+DATASET\s+RIG TYPE\s+STATE\s+ATTEMPTS\s+PROGRESS\s+MODEL\s+CREATED\n^1\s+1\s+zema-testrig\s+queued\s+0/3\s+-\s+-\s+20`, stdout)

	wlog, stopWorker := startWorker(t, s)
	j := waitJob(t, c, "1")
	require.Equal(t, "succeeded", j.State, "%s", wlog())

	code, stdout, stderr = run(t, "jobs", "get", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "job 1: succeeded\n")
	assert.Contains(t, stdout, "attempts     1 of 3\n")
	assert.Regexp(t, `(?m)^progress     registering 2/2, elapsed `, stdout)
	assert.Contains(t, stdout, "model        zema-testrig v1\n")
	assert.Regexp(t, `(?m)^bundle       [0-9.]+ KB sha256:[0-9a-f]{64}$`, stdout)
	code, stdout, _ = run(t, "jobs", "get", "1", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &j), stdout)
	assert.Equal(t, 1, *j.ModelVersion)

	code, stdout, _ = run(t, "jobs", "logs", "1")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^20\S+Z \[1\] `, stdout)
	var lines []fleetapi.LogLine
	code, out, _ := run(t, "jobs", "logs", "1", "--json", "--attempt", "1")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(out), &lines), out)
	assert.Equal(t, strings.Count(stdout, "\n"), len(lines))
	code, out, _ = run(t, "jobs", "logs", "1", "--json", "--attempt", "2")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "[]\n", out)

	// A second version with another seed and bundle version.
	code, stdout, stderr = run(t, "jobs", "create", "--dataset", "1", "--config", tiny, "--epochs", "2", "--batch-size", "8", "--seed", "2",
		"--sensor-dropout", "0", "--bundle-version", "2.0.0", "--max-attempts", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, `"sensor_dropout":0`, "--sensor-dropout given, even as 0, reaches the job's config")
	j = waitJob(t, c, "2")
	require.Equal(t, "succeeded", j.State, "%s", wlog())
	require.NoError(t, stopWorker())

	code, stdout, _ = run(t, "jobs", "list", "--state", "succeeded")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^2\s+1\s+zema-testrig\s+succeeded\s+1/1\s+registering 2/2\s+zema-testrig v2\s+20`, stdout)
	assert.Regexp(t, `(?m)^1\s+1\s+zema-testrig\s+succeeded\s+1/3\s+`, stdout)

	code, stdout, stderr = run(t, "models", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^zema-testrig\s+2\s+zema-testrig 2\.0\.0\s+2\s+1\s+go\s+[0-9.]+\s+20.*\n^zema-testrig\s+1\s+zema-testrig 1\.0\.1\s+1\s+1\s+go\s+`, stdout)
	code, stdout, _ = run(t, "models", "list", "--rig-type", "other", "--json")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "[]\n", stdout)

	code, stdout, stderr = run(t, "models", "get", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "model zema-testrig version 1: bundle zema-testrig 1.0.1\n")
	assert.Regexp(t, `(?m)^data set     1 \(files sha256:[0-9a-f]{64}, archive sha256:[0-9a-f]{64}\)$`, stdout)
	assert.Regexp(t, `(?m)^cooler\.accuracy\s+[0-9.]+$`, stdout)
	var mv fleetapi.ModelVersion
	code, stdout, _ = run(t, "models", "get", "--rig-type", "zema-testrig", "2", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &mv), stdout)
	assert.Equal(t, "2.0.0", mv.BundleVersion)
	assert.NotEmpty(t, mv.Manifest)

	code, stdout, stderr = run(t, "models", "compare", "1", "2")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "model zema-testrig: version 1 (A, job 1, data set 1) against version 2 (B, job 2, data set 1): same data set\n")
	assert.Regexp(t, `(?m)^METRIC\s+A\s+B\s+DELTA\n(.+\n)*^cooler\.accuracy\s+[0-9.]+\s+[0-9.]+\s+[-+][0-9.]+$`, stdout)
	assert.Regexp(t, `(?m)^train\.windows\s+28\s+28\s+\+0$`, stdout)
	assert.True(t, strings.Contains(stdout, "\nSETTING ") || strings.Contains(stdout, "\nsame training settings\n"), stdout)
	var cmp fleetapi.Comparison
	code, stdout, _ = run(t, "models", "compare", "1", "2", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &cmp), stdout)
	assert.True(t, cmp.SameDataset)

	// A queued job is cancelled at once (no worker runs now); a finished
	// one cannot be.
	code, _, stderr = run(t, "jobs", "create", "--dataset", "1")
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "jobs", "cancel", "3")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "job 3: cancelled\n", stdout)
	code, _, stderr = run(t, "jobs", "cancel", "3")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: jobs cancel 3: 409 ")

	// The server's refusals, printed.
	code, _, stderr = run(t, "jobs", "get", "99")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: jobs get 99: 404 Not found")
	code, _, stderr = run(t, "jobs", "create", "--dataset", "1", "--sensor-dropout", "1")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "--sensor-dropout 1: want a probability in [0, 1)")
	code, _, stderr = run(t, "jobs", "create", "--dataset", "1", "--epochs", "-5")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: jobs create: 400 ")
	assert.Contains(t, stderr, "epochs")
	code, _, stderr = run(t, "jobs", "create", "--dataset", "1", "--config", `{"epochz":3}`)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "epochz")
	code, _, stderr = run(t, "jobs", "list", "--state", "bogus")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "400 Invalid parameter")
	code, _, stderr = run(t, "models", "get", "9")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: models get 9: 404 ")
	code, _, stderr = run(t, "models", "compare", "--rig-type", "nope", "1", "2")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "404")

	// Usage errors: exit 2, nothing sent.
	for _, args := range [][]string{{"jobs"}, {"jobs", "bogus"}, {"jobs", "get"}, {"jobs", "get", "abc"}, {"jobs", "get", "1", "2"},
		{"jobs", "create"}, {"jobs", "create", "--dataset", "1", "--config", "{nope"}, {"jobs", "cancel"},
		{"models"}, {"models", "compare", "1"}, {"models", "get", "x"}, {"models", "get", "0"}} {
		code, _, _ := run(t, args...)
		assert.Equal(t, ExitUsage, code, "%v", args)
	}
}
