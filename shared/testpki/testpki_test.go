package testpki

import (
	"crypto/x509"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server and a client certificate verify against the CA's pool for
// their own use only, and their files lie in the CA's directory.
func TestIssue(t *testing.T) {
	ca := New(t, "testpki test CA")
	require.FileExists(t, ca.File)
	srv, cli := ca.Server("srv"), ca.Client("cli")
	for _, p := range []Pair{srv, cli} {
		require.FileExists(t, p.CertFile)
		fi, err := os.Stat(p.KeyFile)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "key %s", p.KeyFile)
	}
	sc, err := x509.ParseCertificate(srv.TLS.Certificate[0])
	require.NoError(t, err)
	_, err = sc.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "localhost"})
	require.NoError(t, err, "server for localhost")
	_, err = sc.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: "127.0.0.1"})
	require.NoError(t, err, "server for 127.0.0.1")
	cc, err := x509.ParseCertificate(cli.TLS.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, "cli", cc.Subject.CommonName)
	_, err = cc.Verify(x509.VerifyOptions{Roots: ca.Pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err, "client")
	_, err = cc.Verify(x509.VerifyOptions{Roots: ca.Pool})
	require.Error(t, err, "a client certificate is no server certificate")
	assert.NotEqual(t, sc.SerialNumber, cc.SerialNumber, "serials differ")
}
