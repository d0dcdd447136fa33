package rigctl

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigctl tokens list shows an organisation's tokens with their makers and
// last use, never a secret; tokens revoke --cascade revokes a token with
// the tokens it made (review r2 F1).
func TestTokensListAndRevoke(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	ctx := context.Background()
	ac := cloudclient.New(s.URL, admin)
	var child, grand fleetapi.TokenResponse
	require.NoError(t, ac.Do(ctx, "POST", "/v1/orgs/1/tokens", nil, fleetapi.TokenRequest{Name: "contractor", Role: "admin"}, &child))
	require.NoError(t, cloudclient.New(s.URL, child.Secret).Do(ctx, "POST", "/v1/orgs/1/tokens", nil,
		fleetapi.TokenRequest{Name: "backdoor", Role: "admin"}, &grand))

	code, stdout, stderr := run(t, "tokens", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^ID\s+NAME\s+ROLE\s+CREATED\s+EXPIRES\s+REVOKED\s+BY\s+LAST-USED$`, stdout)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+backdoor\s+admin\s+\S+\s+-\s+-\s+%d\s+-$`, grand.Token.ID, child.Token.ID), stdout)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+contractor\s+admin\s+\S+\s+-\s+-\s+\d+\s+\d{4}-`, child.Token.ID), stdout, "used once: LAST-USED set")
	assert.NotContains(t, stdout, "rgt_")

	code, stdout, stderr = run(t, "tokens", "revoke", fmt.Sprint(child.Token.ID), "--cascade")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, fmt.Sprintf("token %d revoked, with every token it made", child.Token.ID))
	for _, sec := range []string{child.Secret, grand.Secret} {
		require.Error(t, cloudclient.New(s.URL, sec).Do(ctx, "GET", "/v1/rigs", nil, nil, nil))
	}
	require.NoError(t, ac.Do(ctx, "GET", "/v1/rigs", nil, nil, nil))

	code, stdout, stderr = run(t, "tokens", "list", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var toks []fleetapi.Token
	require.NoError(t, json.Unmarshal([]byte(stdout), &toks))
	revoked := 0
	for _, tk := range toks {
		if tk.RevokedAt != nil {
			revoked++
			assert.WithinDuration(t, time.Now(), *tk.RevokedAt, time.Minute)
		}
	}
	assert.Equal(t, 2, revoked)

	code, _, stderr = run(t, "tokens", "revoke", "x")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `"x" is not a token id`)
	code, _, _ = run(t, "tokens", "list", "--cascade")
	assert.Equal(t, ExitUsage, code, "--cascade belongs to revoke")
}
