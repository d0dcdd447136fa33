package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir; it returns their paths and a pool that trusts the
// certificate. (tools/internal/testca, the repository's test CA, is
// internal to the tools module.)
func selfSigned(t *testing.T, dir string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rig-cloud test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	require.NoError(t, err)
	c, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	cert, key = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return cert, key, pool
}

// With server.tls set, Serve speaks HTTPS: a client trusting the
// certificate gets /health/live over TLS, one that does not is refused
// by its own verification, and a plain HTTP request to the port gets Go's
// 400 for HTTP on an HTTPS port, never the API's answer.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	cert, key, pool := selfSigned(t, t.TempDir())
	s := startServe(t, testConfig(t, dbtest.URL(t), fmt.Sprintf("  tls:\n    cert_file: %s\n    key_file: %s\n", cert, key), ""))

	trusting := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	resp, err := trusting.Get("https://" + s.addr + "/health/live")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "%s", body)
	assert.JSONEq(t, `{"status":"live"}`, string(body))
	require.NotNil(t, resp.TLS, "answered over TLS")
	assert.True(t, resp.TLS.HandshakeComplete)

	// A client without the certificate in its pool: verification fails.
	_, err = noKeepAlive.Get("https://" + s.addr + "/health/live")
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)

	// Plain HTTP to the TLS port.
	code, b, err := get(t, s.addr, "/health/live")
	require.NoError(t, err)
	assert.Equal(t, 400, code, "%s", b)
	assert.Contains(t, b, "HTTP request to an HTTPS server")
	// Ready over HTTPS too, then a clean shutdown.
	require.Eventually(t, func() bool {
		resp, err := trusting.Get("https://" + s.addr + "/health/ready")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == 200
	}, time.Minute, 20*time.Millisecond, "never ready over HTTPS")
	require.NoError(t, s.wait(t))
}
