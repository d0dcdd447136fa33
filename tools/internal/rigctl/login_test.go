package rigctl

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// orgsServer answers GET /v1/orgs with one organisation and records the
// Authorization headers it got.
func orgsServer(t *testing.T) (url string, auths func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(fleetapi.Page[fleetapi.Org]{Items: []fleetapi.Org{{ID: 1, Slug: "acme"}}})
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func runIn(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin), Version: "test"}, args)
	return code, out.String(), errb.String()
}

// login takes the token from a file or the standard input (its first
// line, capped), so that it is not in the process list; --token still
// works but warns.
func TestLoginTokenSources(t *testing.T) {
	rigctlEnv(t, "", "")
	url, auths := orgsServer(t)
	tokFile := filepath.Join(t.TempDir(), "tok")
	require.NoError(t, os.WriteFile(tokFile, []byte("  rgt_file \nsecond line\n"), 0o600))

	code, stdout, stderr := runIn(t, "", "login", "--server", url, "--token-file", tokFile, "--name", "f")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "as organisation acme")
	assert.Empty(t, stderr)

	code, _, stderr = runIn(t, "rgt_stdin\nmore", "login", "--server", url, "--token-stdin", "--name", "s")
	require.Equal(t, ExitOK, code, stderr)
	assert.Empty(t, stderr)

	code, _, stderr = runIn(t, "", "login", "--server", url, "--token", "rgt_flag", "--name", "t")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stderr, "warning: --token shows the token in the process list")
	// Each login lists the organisations, then (one organisation: an
	// organisation's token or a system token?) asks for a rig.
	assert.Equal(t, []string{"Bearer rgt_file", "Bearer rgt_file", "Bearer rgt_stdin", "Bearer rgt_stdin",
		"Bearer rgt_flag", "Bearer rgt_flag"}, auths())

	for _, tc := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{"", []string{"--token-file", tokFile, "--token-stdin"}, "only one of"},
		{"", []string{"--token", "x", "--token-file", tokFile}, "only one of"},
		{"", []string{"--token-file", filepath.Join(t.TempDir(), "nope")}, "no such file"},
		{"\n", []string{"--token-stdin"}, "the first line is empty"},
		{strings.Repeat("x", maxTokenLine+1), []string{"--token-stdin"}, "longer than 4096 bytes"},
	} {
		code, _, stderr = runIn(t, tc.stdin, append([]string{"login", "--server", url}, tc.args...)...)
		assert.Equal(t, ExitUsage, code, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
	assert.Len(t, auths(), 6, "a refused login sends nothing")
}

// RIGCTL_TOKEN alone is not sent to the current context's server, and an
// explicit --context beats the environment's pair.
func TestFleetClientEnvironment(t *testing.T) {
	rigctlEnv(t, "", "")
	url, _ := orgsServer(t)
	code, _, stderr := runIn(t, "rgt_ctx\n", "login", "--server", url, "--token-stdin", "--name", "prod")
	require.Equal(t, ExitOK, code, stderr)

	t.Setenv(EnvToken, "rgt_env")
	c, err := fleetClient("")
	require.NoError(t, err)
	assert.Equal(t, url, c.Server)
	assert.Equal(t, "rgt_ctx", c.Token, "a lone RIGCTL_TOKEN goes to no server")

	t.Setenv(EnvToken, "")
	t.Setenv(EnvServer, "http://other.example")
	c, err = fleetClient("")
	require.NoError(t, err)
	assert.Equal(t, url, c.Server, "a lone RIGCTL_SERVER gets no token")
	assert.Equal(t, "rgt_ctx", c.Token)

	t.Setenv(EnvToken, "rgt_env")
	c, err = fleetClient("")
	require.NoError(t, err)
	assert.Equal(t, "http://other.example", c.Server, "both set: the pair")
	assert.Equal(t, "rgt_env", c.Token)

	c, err = fleetClient("prod")
	require.NoError(t, err)
	assert.Equal(t, url, c.Server, "an explicit context wins")
	assert.Equal(t, "rgt_ctx", c.Token)
}
