package rigctl

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// With a system token, rigctl tokens list shows the deployment's system
// and release tokens, --org ID an organisation's, and tokens revoke
// revokes any of them (review r2 F2).
func TestTokensSystem(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	ctx := context.Background()
	var other fleetapi.TokenResponse
	require.NoError(t, cloudclient.New(s.URL, s.SystemToken).Do(ctx, "POST", "/v1/orgs/1/tokens", nil,
		fleetapi.TokenRequest{Name: "second admin", Role: "admin"}, &other))
	rigctlEnv(t, s.URL, s.SystemToken)

	code, stdout, stderr := run(t, "tokens", "list")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `(?m)^1\s+cloudrun\s+system\s`, stdout)
	assert.NotContains(t, stdout, "second admin", "an organisation's tokens need --org")
	code, stdout, stderr = run(t, "tokens", "list", "--org", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+second admin\s+admin\s+\S+\s+-\s+-\s+1\s`, other.Token.ID), stdout)

	code, _, stderr = run(t, "tokens", "revoke", fmt.Sprint(other.Token.ID))
	require.Equal(t, ExitOK, code, stderr)
	require.Error(t, cloudclient.New(s.URL, other.Secret).Do(ctx, "GET", "/v1/rigs", nil, nil, nil))
	require.NoError(t, cloudclient.New(s.URL, admin).Do(ctx, "GET", "/v1/rigs", nil, nil, nil))
	// The system token revokes itself; then nothing works with it.
	code, _, stderr = run(t, "tokens", "revoke", "1")
	require.Equal(t, ExitOK, code, stderr)
	code, _, stderr = run(t, "tokens", "list")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "401")
}
