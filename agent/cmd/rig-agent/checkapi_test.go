package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckRefusesOpenAPI: `rig-agent --check` refuses an api.listen
// beyond loopback without api.token_file or api.allow_unauthenticated
// (exit 78, naming the key and its line), and a token file too short to
// be a secret; with a good token file it is valid (review r1 finding 4).
func TestCheckRefusesOpenAPI(t *testing.T) {
	check := func(cfg string) (int, string) {
		var out, errb bytes.Buffer
		code := run([]string{"--config", cfg, "--check"}, &out, &errb)
		return code, errb.String()
	}
	dir := t.TempDir()
	path := writeConfig(t, dir, "0.0.0.0:0")
	code, errb := check(path)
	assert.Equal(t, exitConfig, code, errb)
	assert.Regexp(t, `rig-agent\.yaml:\d+:\d+: api\.listen: 0\.0\.0\.0:0 is not a loopback address and the API has no token`, errb)

	b, err := os.ReadFile(path)
	require.NoError(t, err)
	withToken := bytes.Replace(b, []byte("  listen: 0.0.0.0:0\nlogging"), []byte("  listen: 0.0.0.0:0\n  token_file: api-token\nlogging"), 1)
	require.NoError(t, os.WriteFile(path, withToken, 0o600))
	token := filepath.Join(dir, "api-token")
	require.NoError(t, os.WriteFile(token, []byte("short\n"), 0o600))
	code, errb = check(path)
	assert.Equal(t, exitConfig, code, errb)
	assert.Contains(t, errb, `api.token_file: "`+token+`" holds 5 characters, want at least 16`)

	require.NoError(t, os.WriteFile(token, []byte("0123456789abcdef0123456789abcdef\n"), 0o600))
	code, errb = check(path)
	assert.Equal(t, 0, code, errb)
}
