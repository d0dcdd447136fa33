package ingest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
)

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a
// client certificate, written as PEM files.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	server                    tls.Certificate
	// serverCertFile and serverKeyFile hold the server certificate as PEM
	// (for Mosquitto).
	serverCertFile, serverKeyFile string
	pool                          *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, server bool) (tls.Certificate, []byte, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "rig-agent"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalECPrivateKey(key)
		require.NoError(t, err)
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		require.NoError(t, err)
		return c, certPEM, keyPEM
	}
	p := &pki{dir: dir, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "client.pem"),
		keyFile: filepath.Join(dir, "client.key"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	require.NoError(t, os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	var srvCert, srvKey []byte
	p.server, srvCert, srvKey = issue(2, true)
	p.serverCertFile, p.serverKeyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	require.NoError(t, os.WriteFile(p.serverCertFile, srvCert, 0o644))
	require.NoError(t, os.WriteFile(p.serverKeyFile, srvKey, 0o600))
	_, certPEM, keyPEM := issue(3, false)
	require.NoError(t, os.WriteFile(p.certFile, certPEM, 0o644))
	require.NoError(t, os.WriteFile(p.keyFile, keyPEM, 0o600))
	return p
}

// TestTLSClientCertificateAndPassword: a broker that requires a client
// certificate and a password; the ingest connects with TLSConfig's files
// and the credentials, and without the certificate it cannot.
func TestTLSClientCertificateAndPassword(t *testing.T) {
	p := newPKI(t)
	b := startBroker(t, broker.Options{
		TLS: &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: p.pool, MinVersion: tls.VersionTLS12},
		Users: map[string]string{"agent": "s3cret"},
	})
	require.Contains(t, b.URL(), "ssl://")
	clientTLS, err := TLSConfig(TLSFiles{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile})
	require.NoError(t, err)

	cfg := uniqueRig()
	store := newStore()
	startIngest(t, cfg, store, Options{Broker: b.URL(), TLS: clientTLS, Username: "agent", Password: "s3cret"})
	st := makeStream(t, cfg, time.Now().Add(-time.Hour), 20, 5)
	newPublisher(t, b.URL(), func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(clientTLS).SetUsername("agent").SetPassword("s3cret")
	}).publish(t, st.Msgs, 16)
	checkExactlyOnce(t, st.Want, store.waitFor(t, len(st.Want), 20*time.Second))

	// Without a client certificate, or with a wrong password: no session.
	noCert, err := TLSConfig(TLSFiles{CAFile: p.caFile})
	require.NoError(t, err)
	for _, o := range []Options{
		{Broker: b.URL(), TLS: noCert, Username: "agent", Password: "s3cret"},
		{Broker: b.URL(), TLS: clientTLS, Username: "agent", Password: "wrong"},
	} {
		o.Logger = testLogger(t)
		o.ConnectTimeout = 2 * time.Second
		in, err := New(cfg, newStore(), o)
		require.NoError(t, err)
		_, err = in.session(t.Context())
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.NotContains(t, err.Error(), "wrong")
		assert.EqualValues(t, 1, in.Stats().ConnectFailures)
		assert.False(t, in.Stats().Connected)
		t.Log(err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		files TLSFiles
		want  string
	}{
		{TLSFiles{CAFile: filepath.Join(p.dir, "nope.pem")}, "broker CA file"},
		{TLSFiles{CAFile: p.keyFile}, "no PEM certificate"},
		{TLSFiles{CertFile: p.certFile}, "both the certificate file and the key file"},
		{TLSFiles{CertFile: p.certFile, KeyFile: p.caFile}, "client certificate"},
	} {
		_, err := TLSConfig(tc.files)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	c, err := TLSConfig(TLSFiles{ServerName: "broker.local"})
	require.NoError(t, err)
	assert.Equal(t, "broker.local", c.ServerName)
	assert.Nil(t, c.RootCAs, "system roots")
}

// TestTLSMosquitto: the same against a real Mosquitto (a throwaway one,
// started by the test) with a TLS listener that requires a client
// certificate and a password file; skipped when mosquitto or
// mosquitto_passwd is not installed.
func TestTLSMosquitto(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	passwd, perr := exec.LookPath("mosquitto_passwd")
	if _, err := os.Stat(bin); err != nil || perr != nil {
		t.Skip("mosquitto or mosquitto_passwd is not installed (Debian: apt-get install mosquitto)")
	}
	p := newPKI(t)
	pwFile := filepath.Join(p.dir, "passwd")
	out, err := exec.Command(passwd, "-b", "-c", pwFile, "agent", "s3cret").CombinedOutput()
	require.NoError(t, err, "mosquitto_passwd: %s", out)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	conf := filepath.Join(p.dir, "mosquitto.conf")
	me, err := user.Current()
	require.NoError(t, err)
	// user: as root, mosquitto would switch to the mosquitto user, which
	// cannot read the test's files.
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `user %s
per_listener_settings false
allow_anonymous false
password_file %s
persistence false
max_queued_messages 0
max_inflight_messages 0
log_dest stderr
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
`, me.Username, pwFile, port, p.caFile, p.serverCertFile, p.serverKeyFile), 0o600))
	var logs strings.Builder
	cmd := exec.Command(bin, "-c", conf)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	url := fmt.Sprintf("ssl://127.0.0.1:%d", port)
	clientTLS, err := TLSConfig(TLSFiles{CAFile: p.caFile, CertFile: p.certFile, KeyFile: p.keyFile})
	require.NoError(t, err)
	waitUntil(t, 10*time.Second, "mosquitto's TLS listener", func() bool {
		select {
		case <-exited:
			t.Fatalf("mosquitto exited: %v\n%s", waitErr, logs.String())
		default:
		}
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), clientTLS)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})

	cfg := uniqueRig()
	store := newStore()
	startIngest(t, cfg, store, Options{Broker: url, TLS: clientTLS, Username: "agent", Password: "s3cret"})
	st := makeStream(t, cfg, time.Now().Add(-time.Hour), 20, 5)
	newPublisher(t, url, func(o *mqtt.ClientOptions) {
		o.SetTLSConfig(clientTLS).SetUsername("agent").SetPassword("s3cret")
	}).publish(t, st.Msgs, 16)
	checkExactlyOnce(t, st.Want, store.waitFor(t, len(st.Want), 20*time.Second))

	noCert, err := TLSConfig(TLSFiles{CAFile: p.caFile})
	require.NoError(t, err)
	for _, o := range []Options{
		{Broker: url, TLS: noCert, Username: "agent", Password: "s3cret"},
		{Broker: url, TLS: clientTLS, Username: "agent", Password: "wrong"},
	} {
		o.Logger = testLogger(t)
		o.ConnectTimeout = 2 * time.Second
		in, err := New(cfg, newStore(), o)
		require.NoError(t, err)
		_, err = in.session(t.Context())
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "s3cret")
		assert.False(t, in.Stats().Connected)
		t.Log(err)
	}
}
