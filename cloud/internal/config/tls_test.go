package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testpki"
)

// A TLS certificate and key that do not load fail the config, naming the
// key, instead of the server's start after the database and migrations.
func TestTLSPairChecked(t *testing.T) {
	ca := testpki.New(t, "config test CA")
	dir := ca.Dir // a.pem and a.key lie beside c.yaml
	a, b := ca.Server("a"), ca.Server("b")
	cert, key, otherKey := a.CertFile, a.KeyFile, b.KeyFile
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not PEM"), 0o600))
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	yaml := func(c, k string) []byte {
		return []byte("server:\n  tls:\n    cert_file: " + c + "\n    key_file: " + k + "\n")
	}

	cfg, err := Parse(filepath.Join(dir, "c.yaml"), yaml("a.pem", "a.key"), env)
	require.NoError(t, err, "a good pair, relative to the file")
	assert.Equal(t, cert, cfg.Server.TLS.CertFile)

	for _, tc := range []struct{ cert, key, want string }{
		{"missing.crt", key, `c.yaml:3:5: server.tls.cert_file: "` + filepath.Join(dir, "missing.crt") + `" cannot be read: no such file or directory`},
		{garbage, key, `c.yaml:3:5: server.tls.cert_file: "` + garbage + `" is not a PEM certificate: no CERTIFICATE block`},
		{cert, "missing.key", `c.yaml:4:5: server.tls.key_file: "` + filepath.Join(dir, "missing.key") + `" cannot be read: no such file or directory`},
		{cert, otherKey, `c.yaml:4:5: server.tls.key_file: "` + otherKey + `" is not the PEM private key of cert_file "` + cert + `": tls: private key does not match public key`},
		{cert, garbage, `c.yaml:4:5: server.tls.key_file: "` + garbage + `" is not the PEM private key`},
		{key, cert, `server.tls.cert_file: "` + key + `" is not a PEM certificate`},
	} {
		_, err := Parse(filepath.Join(dir, "c.yaml"), yaml(tc.cert, tc.key), env)
		require.ErrorIs(t, err, ErrInvalid, tc.want)
		assert.Contains(t, err.Error(), tc.want)
		assert.NotContains(t, err.Error(), "PRIVATE KEY", "never the key's content")
	}

	// Set in the environment: the variable is named.
	_, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_SERVER_TLS_CERT_FILE="+cert, "RIG_CLOUD_SERVER_TLS_KEY_FILE="+otherKey))
	require.ErrorIs(t, err, ErrInvalid)
	assert.Contains(t, err.Error(), "environment RIG_CLOUD_SERVER_TLS_KEY_FILE: server.tls.key_file: ")
}
