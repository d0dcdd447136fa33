package rigctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// agentConfig writes a rig-agent config for agent id of the rig described
// by firmware, linked to cloudURL; it returns the config's path and its
// credential file's.
func agentConfig(t *testing.T, dir, id, firmware, cloudURL string) (cfg, cred string) {
	t.Helper()
	bundle, err := filepath.Abs("../../../models/bundles/zema-testrig")
	require.NoError(t, err)
	cfg, cred = filepath.Join(dir, id+".yaml"), filepath.Join(dir, id, "credential")
	require.NoError(t, os.WriteFile(cfg, []byte(fmt.Sprintf(`agent:
  id: %s
  data_dir: %s
rig:
  firmware_config: %s
model:
  bundle_dir: %s
cloud:
  url: %s
  credential_file: %s
`, id, filepath.Join(dir, id, "data"), firmware, bundle, cloudURL, cred)), 0o600))
	return cfg, cred
}

// enrollAgent runs rig-agent enroll with args and the token in env (nil:
// none) and returns its exit code and output.
func enrollAgent(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(agentBinary.build(t), append([]string{"enroll"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RIG_AGENT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errb.String()
}

// checkin sends a check-in with credential; it returns the error (a
// *cloudapi.Problem when refused).
func checkin(t *testing.T, s string, agentID, rigID, rigType, credential string) error {
	t.Helper()
	return cloudclient.New(s, credential).Do(context.Background(), "POST", cloudapi.PathCheckin, nil, cloudapi.CheckinRequest{
		AgentID: agentID, RigID: rigID, RigType: rigType, Time: time.Now().UTC()}, nil)
}

var tokenLine = regexp.MustCompile(`(?m)^  (rge_\S+)$`)

// TestEnrollWithRigctl is what an operator and an installer do: a site, a
// rig and an enrollment token through rigctl, then rig-agent enroll (the
// built binary) against the same rig-cloud writes a credential that
// checks in; a used token, an existing file, --force, a rig type
// mismatch and a revocation.
func TestEnrollWithRigctl(t *testing.T) {
	s := startCloud(t)
	ctx := context.Background()
	sys := cloudclient.New(s.URL, s.SystemToken)
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs", nil, fleetapi.OrgRequest{Slug: "acme", Name: "Acme"}, nil))
	var op fleetapi.TokenResponse
	require.NoError(t, sys.Do(ctx, "POST", "/v1/orgs/1/tokens", nil, fleetapi.TokenRequest{Name: "installer", Role: "operator"}, &op))
	rigctlEnv(t, s.URL, op.Secret)
	dir := t.TempDir()
	zema, err := filepath.Abs("../../../firmware-configs/zema-testrig.yaml")
	require.NoError(t, err)

	// Sites.
	code, stdout, stderr := run(t, "sites", "create", "plant-a", "--location", "Hall 3")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "site 1 plant-a created\n", stdout)
	code, _, stderr = run(t, "sites", "create", "plant-a")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: sites create plant-a: 409 ")
	code, stdout, stderr = run(t, "sites", "create", "plant-b", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var site fleetapi.Site
	require.NoError(t, json.Unmarshal([]byte(stdout), &site), stdout)
	assert.Equal(t, "plant-b", site.Name)
	code, stdout, stderr = run(t, "sites", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, fmt.Sprintf(`^ID\s+NAME\s+LOCATION\s+CREATED\n1\s+plant-a\s+Hall 3\s+20\S+\n%d\s+plant-b\s+-\s+20\S+\n$`, site.ID), stdout)
	code, stdout, _ = run(t, "sites", "list", "--json", "--limit", "1")
	require.Equal(t, ExitOK, code)
	var sites []fleetapi.Site
	require.NoError(t, json.Unmarshal([]byte(stdout), &sites))
	assert.Len(t, sites, 1)

	// Rigs.
	code, stdout, stderr = run(t, "rigs", "create", "zema-rig-1", "--type", "zema-testrig", "--site", "plant-a", "--label", "line=a")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "rig zema-rig-1 created: rig type zema-testrig, site 1 plant-a, labels {\"line\":\"a\"}\n"+
		"next: rigctl rigs enroll zema-rig-1 (a one-time token for its agent)\n", stdout)
	code, stdout, stderr = run(t, "rigs", "create", "--type", "excavator", "mix-1", "--site", fmt.Sprint(site.ID), "--label", "line=b", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var created struct {
		fleetapi.Rig
		Labels map[string]string `json:"labels"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &created), stdout)
	assert.Equal(t, "excavator", created.RigType)
	require.NotNil(t, created.SiteID)
	assert.Equal(t, site.ID, *created.SiteID, "a site by its id")
	assert.Equal(t, map[string]string{"line": "b"}, created.Labels)
	code, stdout, _ = run(t, "rigs", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^zema-rig-1\s+zema-testrig\s+1\s+20`, stdout)
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"rigs", "create", "x-1", "--type", "t", "--site", "nope"}, ExitFailure, `--site: no site named (or numbered) "nope" in your organisation`},
		{[]string{"rigs", "create", "x-1"}, ExitUsage, "--type RIG_TYPE is required"},
		{[]string{"rigs", "create", "x-1", "--type", "t", "--label", "novalue"}, ExitUsage, `label "novalue" is not KEY=VALUE`},
		{[]string{"rigs", "create", "zema-rig-1", "--type", "t"}, ExitFailure, "409 "},
		{[]string{"rigs", "create", "bad id!", "--type", "t"}, ExitFailure, `400 Invalid request body: rig_id "bad id!" is not 1-64 of`},
		{[]string{"rigs", "enroll", "nope"}, ExitFailure, "rigctl: rigs enroll nope: 404 Not found"},
		{[]string{"rigs", "enroll", "zema-rig-1", "--type", "t"}, ExitUsage, "belong to rigs create"},
		{[]string{"rigs", "enroll"}, ExitUsage, "Usage: rigctl rigs enroll RIG"},
		{[]string{"agents", "revoke", "nope"}, ExitFailure, "rigctl: agents revoke nope: 404 Not found"},
		{[]string{"agents", "revoke"}, ExitUsage, "Usage: rigctl agents list"},
		{[]string{"sites", "create"}, ExitUsage, "Usage: rigctl sites create NAME"},
		{[]string{"sites"}, ExitUsage, "Usage: rigctl sites create NAME"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, stderr)
		assert.Contains(t, stderr, tc.err, "%v", tc.args)
	}

	// An enrollment token, and rig-agent enroll with it.
	code, stdout, stderr = run(t, "rigs", "enroll", "zema-rig-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^enrollment token for rig zema-rig-1, valid once until 20\S+Z \(shown only now\):\n  rge_\S+\n`, stdout)
	assert.Contains(t, stdout, "\n  rig-agent enroll --config /etc/hydrognn/rig-agent.yaml --token-file TOKEN_FILE\n")
	m := tokenLine.FindStringSubmatch(stdout)
	require.NotNil(t, m, stdout)
	token := m[1]
	tokFile := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tokFile, []byte(token+"\n"), 0o600))

	cfg, cred := agentConfig(t, dir, "rig-001", zema, s.URL)
	code, stdout, stderr = enrollAgent(t, nil, "--config", cfg, "--token-file", tokFile, "--agent-id", "rig-001")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, fmt.Sprintf("enrolled agent rig-001 for rig zema-rig-1 (zema-testrig), generation 1; credential written to %s (mode 0600)\n"+
		"next: rig-agent --config %s --check, then start the agent\n", cred, cfg), stdout)
	first, err := os.ReadFile(cred)
	require.NoError(t, err)
	credential := strings.TrimSpace(string(first))
	require.True(t, strings.HasPrefix(credential, "rga_"), "the file holds the credential")
	assert.NotContains(t, stdout+stderr, credential, "the credential is never printed")
	assert.NotContains(t, stdout+stderr, token)
	fi, err := os.Stat(cred)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.NoError(t, checkin(t, s.URL, "rig-001", "zema-rig-1", "zema-testrig", credential), "the written credential checks in")

	// The token again: with the file there, refused before sending; with
	// --force, the server's refusal, and the file untouched.
	code, _, stderr = enrollAgent(t, nil, "--config", cfg, "--token-file", tokFile)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "rig-agent enroll: the credential file exists: "+cred+" (this agent was enrolled before): nothing was sent")
	code, _, stderr = enrollAgent(t, nil, "--config", cfg, "--token-file", tokFile, "--force")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "/v1/agent/enroll: 401 Missing or invalid credential: the credential is unknown, revoked, used or expired (request req-")
	assert.Contains(t, stderr, "ask an operator for a new one (rigctl rigs enroll zema-rig-1)")
	assert.NotContains(t, stderr, token)
	again, err := os.ReadFile(cred)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a refused enrollment leaves the file as it was")

	// A new token, from the environment, with --force: the agent checked
	// in just now, so a plain token is refused (409) and the file stays
	// (review r2 F3); a token made with --replace re-enrolls it, and the
	// old credential is revoked.
	code, stdout, stderr = run(t, "rigs", "enroll", "zema-rig-1", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var en fleetapi.Enrollment
	require.NoError(t, json.Unmarshal([]byte(stdout), &en), stdout)
	code, _, stderr = enrollAgent(t, []string{"RIG_AGENT_ENROLLMENT_TOKEN=" + en.Token}, "--config", cfg, "--force")
	require.NotEqual(t, 0, code)
	assert.Contains(t, stderr, "--replace rig-001")
	again, err = os.ReadFile(cred)
	require.NoError(t, err)
	assert.Equal(t, first, again, "a refused enrollment leaves the file as it was")
	code, stdout, stderr = run(t, "rigs", "enroll", "zema-rig-1", "--replace", "rig-001")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "it may replace agent rig-001 of the rig")
	code, stdout, stderr = run(t, "rigs", "enroll", "zema-rig-1", "--replace", "rig-001", "--json")
	require.Equal(t, ExitOK, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &en), stdout)
	assert.Equal(t, "zema-rig-1", en.RigID)
	assert.Equal(t, "rig-001", en.Replace)
	assert.True(t, en.ExpiresAt.After(time.Now()))
	code, stdout, stderr = enrollAgent(t, []string{"RIG_AGENT_ENROLLMENT_TOKEN=" + en.Token}, "--config", cfg, "--force")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "generation 2; credential replaced in "+cred)
	second, err := os.ReadFile(cred)
	require.NoError(t, err)
	assert.NotEqual(t, first, second)
	err = checkin(t, s.URL, "rig-001", "zema-rig-1", "zema-testrig", credential)
	var p *cloudapi.Problem
	require.ErrorAs(t, err, &p, "the replaced credential is revoked")
	assert.Equal(t, 401, p.Status)
	credential = strings.TrimSpace(string(second))
	require.NoError(t, checkin(t, s.URL, "rig-001", "zema-rig-1", "zema-testrig", credential))

	code, stdout, stderr = run(t, "agents", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^AGENT\s+RIG\s+GEN\s+ENROLLED\s+REVOKED\s+LAST CHECK-IN\nrig-001\s+zema-rig-1\s+2\s+20\S+\s+-\s+20\S+\n$`, stdout)

	// A rig registered with another rig type than the agent's firmware
	// config: refused, nothing written.
	fw, err := os.ReadFile(zema)
	require.NoError(t, err)
	mixFW := filepath.Join(dir, "mix-1.yaml")
	require.NoError(t, os.WriteFile(mixFW, bytes.Replace(fw, []byte("id: zema-rig-1"), []byte("id: mix-1"), 1), 0o600))
	mixCfg, mixCred := agentConfig(t, dir, "rig-002", mixFW, s.URL)
	code, stdout, _ = run(t, "rigs", "enroll", "mix-1", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &en))
	code, _, stderr = enrollAgent(t, []string{"RIG_AGENT_ENROLLMENT_TOKEN=" + en.Token}, "--config", mixCfg)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `rig "mix-1" is of rig type "excavator" in the cloud, but the firmware config `+mixFW+` says "zema-testrig"`)
	assert.Contains(t, stderr, "the credential was not saved")
	_, err = os.Stat(mixCred)
	assert.ErrorIs(t, err, os.ErrNotExist)

	// A token of another rig: the server's 403, explained.
	code, stdout, _ = run(t, "rigs", "enroll", "mix-1", "--json")
	require.Equal(t, ExitOK, code)
	require.NoError(t, json.Unmarshal([]byte(stdout), &en))
	code, _, stderr = enrollAgent(t, []string{"RIG_AGENT_ENROLLMENT_TOKEN=" + en.Token}, "--config", cfg, "--force")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `403 Not allowed for this credential: `)
	assert.Contains(t, stderr, `The token was made for another rig than this agent's (the firmware config's equipment id "zema-rig-1")`)

	// Revocation: the credential is refused from then on.
	code, stdout, stderr = run(t, "agents", "revoke", "rig-001")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "agent rig-001 revoked: its credential is refused from now on\n", stdout)
	err = checkin(t, s.URL, "rig-001", "zema-rig-1", "zema-testrig", credential)
	require.ErrorAs(t, err, &p, "a revoked credential")
	assert.Equal(t, 401, p.Status)
	code, stdout, _ = run(t, "agents", "list", "--rig", "zema-rig-1", "--json")
	require.Equal(t, ExitOK, code)
	var agents []fleetapi.Agent
	require.NoError(t, json.Unmarshal([]byte(stdout), &agents), stdout)
	require.Len(t, agents, 1)
	assert.NotNil(t, agents[0].RevokedAt)
	code, stdout, _ = run(t, "agents", "revoke", "rig-001", "--json")
	require.Equal(t, ExitOK, code, "revoking twice is fine")
	assert.JSONEq(t, `{"agent_id":"rig-001","revoked":true}`, stdout)
}
