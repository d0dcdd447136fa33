package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The local API follows the embedded broker's rule (review r1 finding
// 4): api.listen beyond loopback is refused without api.token_file or an
// explicit api.allow_unauthenticated, naming the key, so `rig-agent
// --check` refuses it as well as every start.
func TestAPIListenNeedsCredentials(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:8080", "192.168.1.20:8080", ":8080", "[::]:8080", "rig-1.local:8080"} {
		errs := parseErrs(t, "api: {listen: \""+listen+"\"}\n")
		require.Len(t, errs, 1, listen)
		assert.Contains(t, errs[0], "api.listen: "+listen+" is not a loopback address and the API has no token", listen)
		assert.Nil(t, parseErrs(t, "api: {listen: \""+listen+"\", allow_unauthenticated: true}\n"), listen)
		assert.Nil(t, parseErrs(t, "api: {listen: \""+listen+"\", token_file: /etc/hydrognn/api-token}\n"), listen)
	}
	for _, listen := range []string{"127.0.0.1:8080", "localhost:8080", "[::1]:9000", "127.0.0.2:0"} {
		assert.Nil(t, parseErrs(t, "api: {listen: \""+listen+"\"}\n"), listen)
	}
	assert.Equal(t, []string{`api.allow_unauthenticated: is true but api.token_file "/t" is set: set one of them`},
		parseErrs(t, "api: {token_file: /t, allow_unauthenticated: true}\n"))
	assert.Equal(t, []string{`api.allowed_hosts[1]: "rig-1:8080" is not a host name or address (no port, scheme or path)`},
		parseErrs(t, "api: {allowed_hosts: [rig-1.local, \"rig-1:8080\", \"::1\", 10.0.0.5]}\n"))

	cfg, err := Parse("/etc/hydrognn/a.yaml", []byte("rig: {firmware_config: /r.yaml}\nmodel: {bundle_dir: /b}\napi: {listen: \"0.0.0.0:8080\"}\n"),
		[]string{"RIG_AGENT_API_TOKEN_FILE=api-token"})
	require.NoError(t, err, "the token file from the environment")
	assert.Equal(t, "/etc/hydrognn/api-token", cfg.API.TokenFile, "resolved against the config's directory")
}

// api.token_file is read when the config loads: missing, too short or
// holding white space is refused at api.token_file; the token is what
// the file holds without its trailing newline.
func TestAPITokenFileLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	require.NoError(t, os.WriteFile(path, []byte(fmt.Sprintf(`agent: {data_dir: %s}
rig: {firmware_config: %s}
model: {bundle_dir: %s}
api: {listen: "0.0.0.0:8080", token_file: api-token}
`, dir, mustAbs(t, "../../../firmware-configs/zema-testrig.yaml"), mustAbs(t, "../../../models/bundles/zema-testrig"))), 0o600))
	tokenFile := filepath.Join(dir, "api-token")

	_, err := Load(path)
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "api.token_file: \""+tokenFile+"\": no such file or directory")

	for _, tc := range []struct{ content, want string }{
		{"short\n", "holds 5 characters, want at least 16"},
		{"\n", "holds 0 characters, want at least 16"},
		{"0123456789abcdef 0123\n", "holds white space or a control character at byte 16"},
	} {
		require.NoError(t, os.WriteFile(tokenFile, []byte(tc.content), 0o600))
		_, err = Load(path)
		require.ErrorIs(t, err, ErrInvalid, "%q", tc.content)
		assert.Contains(t, err.Error(), "api.token_file: \""+tokenFile+"\" "+tc.want)
	}

	require.NoError(t, os.WriteFile(tokenFile, []byte("0123456789abcdef0123\r\n"), 0o600))
	cfg, err := Load(path)
	require.NoError(t, err)
	tok, err := cfg.API.TokenValue()
	require.NoError(t, err)
	assert.Equal(t, "0123456789abcdef0123", tok.Reveal())
	assert.NotContains(t, fmt.Sprint(tok), "0123", "the token is never printed")
}
