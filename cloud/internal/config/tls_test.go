package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writePair writes a self-signed certificate and its key into dir as
// name.crt and name.key.
func writePair(t *testing.T, dir, name string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{name}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	return cert, key
}

// A TLS certificate and key that do not load fail the config, naming the
// key, instead of the server's start after the database and migrations.
func TestTLSPairChecked(t *testing.T) {
	dir := t.TempDir()
	cert, key := writePair(t, dir, "a")
	_, otherKey := writePair(t, dir, "b")
	garbage := filepath.Join(dir, "garbage.pem")
	require.NoError(t, os.WriteFile(garbage, []byte("not PEM"), 0o600))
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	yaml := func(c, k string) []byte {
		return []byte("server:\n  tls:\n    cert_file: " + c + "\n    key_file: " + k + "\n")
	}

	cfg, err := Parse(filepath.Join(dir, "c.yaml"), yaml("a.crt", "a.key"), env)
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
