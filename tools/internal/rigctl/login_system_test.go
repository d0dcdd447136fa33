package rigctl

import (
	"context"
	"os"
	"os/exec"
	"strings"
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
	rigctlEnv(t, "", "")
	require.NoError(t, cloudclient.New(s.URL, s.SystemToken).Do(context.Background(), "POST", "/v1/orgs", nil,
		map[string]string{"slug": "acme", "name": "Acme"}, nil))

	code, stdout, stderr := runIn(t, s.SystemToken+"\n", "login", "--server", s.URL, "--token-stdin", "--name", "sys")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "as a system token")
	assert.NotContains(t, stdout, "organisation acme")
}

// A release token (rig-cloud token create --release) may not list
// organisations (403): login still takes it, as docs/releases.md shows
// for rigctl release publish, and says what it is (any other 403, an
// agent credential's, is still an error).
func TestLoginReleaseToken(t *testing.T) {
	s := startCloud(t)
	rigctlEnv(t, "", "")
	tok := exec.Command(rigCloudBin(t), "token", "create", "--release", "--name", "release manager")
	tok.Env = append(os.Environ(), "RIG_CLOUD_DATABASE_URL="+s.DatabaseURL)
	out, err := tok.Output()
	require.NoError(t, err)
	rel := strings.TrimSpace(string(out))

	code, stdout, stderr := runIn(t, rel+"\n", "login", "--server", s.URL, "--token-stdin", "--name", "rel")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "as a release token")
	code, stdout, _ = run(t, "context", "list")
	require.Equal(t, ExitOK, code)
	assert.Regexp(t, `(?m)^\*\s+rel\s+http://`, stdout)
}
