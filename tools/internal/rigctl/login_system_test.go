package rigctl

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// In a deployment of one organisation, GET /v1/orgs answers a system token
// the same one organisation an organisation's token sees: login still
// says it is a system token, which the fleet commands refuse.
func TestLoginSystemTokenOneOrganisation(t *testing.T) {
	s := startCloud(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(EnvServer, "")
	t.Setenv(EnvToken, "")
	require.NoError(t, cloudclient.New(s.URL, s.SystemToken).Do(context.Background(), "POST", "/v1/orgs", nil,
		map[string]string{"slug": "acme", "name": "Acme"}, nil))

	code, stdout, stderr := runIn(t, s.SystemToken+"\n", "login", "--server", s.URL, "--token-stdin", "--name", "sys")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "as a system token")
	assert.NotContains(t, stdout, "organisation acme")
}
