package rigctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/rig"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdout: &out, Stderr: &errb, Version: "test"}, args)
	return code, out.String(), errb.String()
}

// runBin is run through the rigctl binary built from this checkout
// without the race detector (rigctlBinary), in the test's working
// folder and environment: for the commands that train, evaluate,
// diagnose, simulate or run the demo, which take 8 to 15 times longer
// in-process under -race (make test). Tests of what the command prints,
// exits with and writes use it; tests of in-process behaviour use run.
func runBin(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(t.Context(), rigctlBinary.build(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.Exited() {
		return exit.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err, "rigctl %s: %s", strings.Join(args, " "), errb.String())
	return ExitOK, out.String(), errb.String()
}

// rigctlEnv gives the test a config folder of its own (XDG_CONFIG_HOME)
// and the server and token rigctl reads from the environment.
func rigctlEnv(t *testing.T, server, token string) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(EnvServer, server)
	t.Setenv(EnvToken, token)
}

// zemaRigFile is the shipped zema-testrig firmware config.
var zemaRigFile = filepath.Join("..", "..", "..", "firmware-configs", "zema-testrig.yaml")

// zemaUCI writes a synthetic data set of the zema-testrig firmware config
// in the UCI layout (traintest.WriteUCI: runs runs of runLen cycles, seed
// 1) to a folder zema-sim of the test's own and returns the folder.
func zemaUCI(t *testing.T, runs, runLen int) string {
	t.Helper()
	cfg, err := rig.Load(zemaRigFile)
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "zema-sim")
	require.NoError(t, traintest.WriteUCI(dir, cfg, runs, runLen, 1))
	return dir
}

func TestConfigValidateShipped(t *testing.T) {
	files, err := filepath.Glob("../../../firmware-configs/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	code, out, errOut := run(t, append([]string{"config", "validate"}, files...)...)
	assert.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "rig type zema-testrig, 9 components, 17 sensors")
}

func TestConfigValidateBad(t *testing.T) {
	bad := "../../../shared/rig/testdata/wrong-unit.bad.yaml"
	code, out, errOut := run(t, "config", "validate", "../../../firmware-configs/zema-testrig.yaml", bad)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, out, "invalid "+bad)
	assert.Contains(t, errOut, bad+`:25:5: sensors[1].unit: "psi" is not a unit of temperature`)

	code, out, _ = run(t, "config", "validate", "--json", bad)
	assert.Equal(t, ExitFailure, code)
	var res []validateResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res, 1)
	assert.False(t, res[0].Valid)
	assert.Len(t, res[0].Errors, 1)
}

func TestConfigValidateMissingFile(t *testing.T) {
	code, _, errOut := run(t, "config", "validate", "nope.yaml")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "nope.yaml")
}

func TestUsage(t *testing.T) {
	code, _, errOut := run(t)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "Usage: rigctl")
	code, _, errOut = run(t, "frobnicate")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown command "frobnicate"`)
	code, _, _ = run(t, "config")
	assert.Equal(t, ExitUsage, code)
	code, out, _ := run(t, "version")
	assert.Equal(t, ExitOK, code)
	assert.Equal(t, "rigctl test\n", out)
}

func TestSchema(t *testing.T) {
	code, out, _ := run(t, "schema", "rig")
	require.Equal(t, ExitOK, code)
	var s map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &s))
	assert.Equal(t, "https://hydrognn.dev/schema/rig.json", s["$id"])

	code, out, _ = run(t, "schema")
	require.Equal(t, ExitOK, code)
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &all))
	assert.Len(t, all, 4)
	for _, n := range []string{"rig", "reading", "diagnosis", "manifest"} {
		assert.Contains(t, all, n)
	}

	code, _, errOut := run(t, "schema", "nope")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown schema "nope"`)
}

// TestListBadRow: a list row that does not decode fails the command,
// naming the row, instead of printing a zero row.
func TestListBadRow(t *testing.T) {
	bad := map[string]string{
		"/v1/rigs":                  `{"rig_id":7}`,
		"/v1/alerts":                `{"id":"x"}`,
		"/v1/training/jobs":         `{"id":"x"}`,
		"/v1/models":                `{"version":"x"}`,
		"/v1/uploads":               `{"parts":"x"}`,
		"/v1/rigs/zema-1/diagnoses": `{"seq":"x"}`,
		"/v1/training/jobs/1/logs":  `{"attempt":"x"}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		row, ok := bad[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"items":[%s]}`, row)
	}))
	defer srv.Close()
	t.Setenv(EnvServer, srv.URL)
	t.Setenv(EnvToken, "rgt_test")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, tc := range []struct {
		args []string
		path string
		// decodes: the rows are decoded for --json too (jobs logs
		// filters them by attempt).
		decodes bool
	}{
		{[]string{"rigs", "list"}, "/v1/rigs", false},
		{[]string{"alerts", "list"}, "/v1/alerts", false},
		{[]string{"jobs", "list"}, "/v1/training/jobs", false},
		{[]string{"jobs", "logs", "1"}, "/v1/training/jobs/1/logs", true},
		{[]string{"models", "list"}, "/v1/models", false},
		{[]string{"uploads", "list"}, "/v1/uploads", false},
		{[]string{"diagnoses", "list", "--rig", "zema-1"}, "/v1/rigs/zema-1/diagnoses", false},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, tc.args...)
			assert.Equal(t, ExitFailure, code, out)
			assert.Contains(t, errOut, "GET "+tc.path+": item 0 ("+bad[tc.path]+"): json: cannot unmarshal")
			code, out, errOut = run(t, append(tc.args, "--json")...)
			if tc.decodes {
				assert.Equal(t, ExitFailure, code, out)
				assert.Contains(t, errOut, "item 0")
				return
			}
			assert.Equal(t, ExitOK, code, errOut)
			assert.JSONEq(t, "["+bad[tc.path]+"]", out, "--json prints the rows as the server sent them")
		})
	}
}
