package server_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

// With server.tls set, Serve speaks HTTPS: a client trusting the
// certificate gets /health/live over TLS, one that does not is refused
// by its own verification, and a plain HTTP request to the port gets Go's
// 400 for HTTP on an HTTPS port, never the API's answer.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	ca := testpki.New(t, "rig-cloud test CA")
	srv := ca.Server("server")
	s := startServe(t, testConfig(t, dbtest.URL(t), fmt.Sprintf("  tls:\n    cert_file: %s\n    key_file: %s\n", srv.CertFile, srv.KeyFile), ""))

	trusting := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}}}
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
