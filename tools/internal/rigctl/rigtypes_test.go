package rigctl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
	"github.com/hydrognn/hydrognn/tools/internal/cloudrun"
)

// startRigTypesCloud starts a cloud (startCloud) with organisation 1,
// acme, and has rigctl use its operator token (token 2). It returns the
// cloud, a client with the system token, and the absolute path of
// firmware-configs/zema-testrig.yaml.
func startRigTypesCloud(t *testing.T) (*cloudrun.Server, *cloudclient.Client, string) {
	t.Helper()
	s := startCloud(t)
	ctx := context.Background()
	sys := cloudclient.New(s.URL, s.SystemToken)
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs", nil, fleetapi.OrgRequest{Slug: "acme", Name: "Acme"}, nil))
	var op fleetapi.TokenResponse
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs/1/tokens", nil, fleetapi.TokenRequest{Name: "operator", Role: "operator"}, &op))
	rigctlEnv(t, s.URL, op.Secret)
	zema, err := filepath.Abs("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)
	return s, sys, zema
}

// TestRigTypesWithRigctl: validate, upload (again: the same version,
// "already registered"), list, show (--yaml, --json), versions, an invalid file naming its line, and
// rigs create refusing an unregistered type once the registry is in use.
func TestRigTypesWithRigctl(t *testing.T) {
	_, _, zema := startRigTypesCloud(t)
	cfg, err := rig.Load(zema)
	require.NoError(t, err)

	code, stdout, stderr := run(t, "rig-types", "validate", zema)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "a valid firmware config of rig type zema-testrig")
	assert.Contains(t, stdout, "digest "+cfg.Digest())
	code, stdout, _ = run(t, "rig-types", "list")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "NAME  VERSION  DIGEST  COMPONENTS  EDGES  SENSORS  TARGETS  CREATED\n", stdout, "validate stored nothing")

	code, stdout, stderr = run(t, "rig-types", "upload", zema)
	require.Equal(t, ExitOK, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "rig type zema-testrig version 1 (new): "), stdout)
	code, stdout, stderr = run(t, "rig-types", "upload", zema)
	require.Equal(t, ExitOK, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "rig type zema-testrig version 1 (already registered): "), stdout)
	code, stdout, stderr = run(t, "rig-types", "upload", zema, "--json")
	require.Equal(t, ExitOK, code, stderr)
	var rt fleetapi.RigType
	require.NoError(t, json.Unmarshal([]byte(stdout), &rt), stdout)
	assert.Equal(t, 1, rt.Version, "the same content: the same version")
	assert.Equal(t, cfg.Digest(), rt.Digest)

	code, stdout, _ = run(t, "rig-types", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^zema-testrig\s+1\s+sha256:[0-9a-f]{12}\s+\d+\s+\d+\s+\d+\s+\d+\s+20`, stdout)
	code, stdout, _ = run(t, "rig-types", "list", "--json")
	require.Equal(t, ExitOK, code)
	var list []fleetapi.RigType
	require.NoError(t, json.Unmarshal([]byte(stdout), &list))
	require.Len(t, list, 1)
	assert.Equal(t, len(cfg.Sensors), list[0].Sensors)

	code, stdout, stderr = run(t, "rig-types", "show", "zema-testrig")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "rig type zema-testrig version 1\ndigest      "+cfg.Digest()+"\n")
	assert.Contains(t, stdout, " by token 2\n")
	code, stdout, _ = run(t, "rig-types", "show", "zema-testrig", "--yaml", "--version", "1")
	require.Equal(t, ExitOK, code)
	want, err := os.ReadFile(zema)
	require.NoError(t, err)
	assert.Equal(t, string(want), stdout)
	code, _, stderr = run(t, "rig-types", "show", "nope")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rig-types show nope: 404 ")

	// versions: every version of one rig type, oldest first.
	v2 := filepath.Join(t.TempDir(), "v2.yaml")
	require.NoError(t, os.WriteFile(v2, []byte(strings.Replace(string(want), "topology_version: \"1\"", "topology_version: \"2\"", 1)), 0o600))
	code, stdout, stderr = run(t, "rig-types", "upload", v2)
	require.Equal(t, ExitOK, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "rig type zema-testrig version 2 (new): "), stdout)
	code, stdout, stderr = run(t, "rig-types", "versions", "zema-testrig")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^VERSION\s+DIGEST\s+TOPOLOGY\s+COMPONENTS\s+EDGES\s+SENSORS\s+TARGETS\s+CREATED\n`+
		`1\s+sha256:[0-9a-f]{12}\s+1\s+\d+.*\n2\s+sha256:[0-9a-f]{12}\s+2\s+\d+.*\n$`, stdout)
	code, _, stderr = run(t, "rig-types", "versions", "nope")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rig-types versions nope: 404 ")

	// An invalid config: the problem names the line and the key.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(want), "api_version: hydrognn/v1", "api_version: hydrognn/v9", 1)), 0o600))
	code, _, stderr = run(t, "rig-types", "upload", bad)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "422 Invalid firmware config")
	assert.Contains(t, stderr, "/api_version: line ")

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"rig-types"}, "Usage: rigctl rig-types list"},
		{[]string{"rig-types", "show"}, "Usage: rigctl rig-types list"},
		{[]string{"rig-types", "list", "--yaml"}, "flag provided but not defined: -yaml"},
		{[]string{"rig-types", "show", "x", "--yaml", "--json"}, "exclude each other"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, ExitUsage, code, tc.args)
		assert.Contains(t, stderr, tc.err, tc.args)
	}

	// The registry is in use: an unregistered type is refused, naming the registered ones.
	code, _, stderr = run(t, "rigs", "create", "x-1", "--type", "excavator")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `422 Unknown rig type: rig_type "excavator" is not a rig type of your organisation's registry (zema-testrig)`)
	code, _, stderr = run(t, "rigs", "create", "x-1", "--type", "zema-testrig")
	assert.Equal(t, ExitOK, code, stderr)
}
