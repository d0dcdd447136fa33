package rigctl

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// TestRigTypeDeleteWithRigctl: rig-types delete NAME --version N, an
// admin's command (an operator's token is 403); the server's refusal of
// the latest version while older ones remain; a missing or bad --version
// is a usage error that reaches no server.
func TestRigTypeDeleteWithRigctl(t *testing.T) {
	s, sys, zema := startRigTypesCloud(t)
	var admin fleetapi.TokenResponse
	require.NoError(t, sys.Do(context.Background(), "POST", "/v1/orgs/1/tokens", nil, fleetapi.TokenRequest{Name: "admin", Role: "admin"}, &admin))
	text, err := os.ReadFile(zema)
	require.NoError(t, err)
	v2 := filepath.Join(t.TempDir(), "v2.yaml")
	require.NoError(t, os.WriteFile(v2, []byte(strings.Replace(string(text), `topology_version: "1"`, `topology_version: "2"`, 1)), 0o600))
	for _, f := range []string{zema, v2} {
		code, _, stderr := run(t, "rig-types", "upload", f)
		require.Equal(t, ExitOK, code, stderr)
	}

	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"rig-types", "delete", "zema-testrig"}, "--version N is required"},
		{[]string{"rig-types", "delete", "zema-testrig", "--version", "0"}, "--version N is required"},
		{[]string{"rig-types", "delete", "zema-testrig", "--version", "3000000000"}, "an integer in [1, 2147483647]"},
		{[]string{"rig-types", "delete", "--version", "1"}, "Usage: rigctl rig-types list"},
		{[]string{"rig-types", "delete", "zema-testrig", "--version", "1", "--json"}, "flag provided but not defined: -json"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, ExitUsage, code, tc.args)
		assert.Contains(t, stderr, tc.err, tc.args)
	}

	code, _, stderr := run(t, "rig-types", "delete", "zema-testrig", "--version", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rig-types delete zema-testrig: 403 ")

	rigctlEnv(t, s.URL, admin.Secret)
	code, _, stderr = run(t, "rig-types", "delete", "zema-testrig", "--version", "3")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rig-types delete zema-testrig: 404 ")
	code, _, stderr = run(t, "rig-types", "delete", "zema-testrig", "--version", "2")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409 Not allowed in this state: delete rig type zema-testrig version 2: it is the latest version and 1 older ones remain")
	code, stdout, stderr := run(t, "rig-types", "delete", "zema-testrig", "--version", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "deleted rig type zema-testrig version 1\n", stdout)
	code, stdout, stderr = run(t, "rig-types", "delete", "zema-testrig", "--version", "2")
	require.Equal(t, ExitOK, code, stderr, "no rig uses it: its only version may go")
	assert.Equal(t, "deleted rig type zema-testrig version 2\n", stdout)
	code, stdout, _ = run(t, "rig-types", "list")
	require.Equal(t, ExitOK, code)
	assert.Equal(t, "NAME  VERSION  DIGEST  COMPONENTS  EDGES  SENSORS  TARGETS  CREATED\n", stdout)
}
