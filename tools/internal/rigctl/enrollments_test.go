package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigctl enrollments list shows a rig's enrollment tokens with their
// state, maker and agent, never a secret; enrollments revoke refuses one
// token, or with --all every usable one, as the API does.
func TestEnrollmentsListAndRevoke(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s) // zema-1, one used token (rig-001)
	rigctlEnv(t, s.URL, admin)
	ctx := context.Background()
	ac := cloudclient.New(s.URL, admin)
	var a, b, c fleetapi.Enrollment
	require.NoError(t, ac.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, fleetapi.EnrollmentRequest{Replace: "rig-001"}, &a))
	require.NoError(t, ac.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &b))
	require.NoError(t, ac.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &c))

	code, stdout, stderr := run(t, "enrollments", "list", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^ID\s+STATE\s+CREATED\s+EXPIRES\s+BY\s+USED\s+REVOKED\s+AGENT\s+REPLACE$`, stdout)
	assert.Regexp(t, `(?m)^\d+\s+used\s+\S+\s+\S+\s+\d+\s+\d{4}-\S+\s+-\s+rig-001\s+-$`, stdout)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+usable\s+\S+\s+\S+\s+\d+\s+-\s+-\s+-\s+rig-001$`, a.ID), stdout)
	assert.NotContains(t, stdout, "rge_")

	code, stdout, stderr = run(t, "enrollments", "revoke", "zema-1", fmt.Sprint(a.ID))
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("enrollment token %d of rig zema-1 revoked", a.ID))
	err := cloudclient.New(s.URL, a.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-002"}, nil)
	require.Error(t, err, "a revoked token enrolls nobody")

	code, stdout, stderr = run(t, "enrollments", "revoke", "zema-1", "--all")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "2 usable enrollment tokens of rig zema-1 revoked")

	code, stdout, stderr = run(t, "enrollments", "list", "zema-1", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var toks []fleetapi.EnrollmentToken
	require.NoError(t, json.Unmarshal([]byte(stdout), &toks), stdout)
	require.Len(t, toks, 4)
	states := map[string]int{}
	for _, tk := range toks {
		states[tk.State]++
	}
	assert.Equal(t, map[string]int{"used": 1, "revoked": 3}, states)
	code, stdout, _ = run(t, "enrollments", "list", "zema-1", "--limit", "1", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &toks), stdout)
	assert.Len(t, toks, 1)
	code, stdout, stderr = run(t, "enrollments", "revoke", "zema-1", "--all", "--json")
	require.Equal(t, ExitOK, code, stderr)
	assert.JSONEq(t, `{"revoked":0}`, stdout)

	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"enrollments", "list", "nope"}, ExitFailure, "rigctl: enrollments list nope: 404"},
		{[]string{"enrollments", "revoke", "zema-1", "999"}, ExitFailure, "rigctl: enrollments revoke zema-1 999: 404"},
		{[]string{"enrollments", "revoke", "zema-1", "x"}, ExitUsage, `"x" is not an enrollment token id`},
		{[]string{"enrollments", "revoke", "zema-1"}, ExitUsage, "Usage"},
		{[]string{"enrollments", "revoke", "zema-1", "2", "--all"}, ExitUsage, "not both"},
		{[]string{"enrollments", "list", "zema-1", "--all"}, ExitUsage, ""},
		{[]string{"enrollments", "list"}, ExitUsage, "Usage"},
		{[]string{"enrollments"}, ExitUsage, "Usage: rigctl enrollments list RIG"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.msg, "%v", tc.args)
	}
}
