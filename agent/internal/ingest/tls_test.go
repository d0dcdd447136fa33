package ingest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
	"github.com/hydrognn/hydrognn/shared/testenv"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

// pki holds the files and values of a throwaway CA (testpki) with a
// server certificate for 127.0.0.1 and a client certificate.
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
	ca := testpki.New(t, "test CA")
	srv, cl := ca.Server("server"), ca.Client("rig-agent")
	return &pki{dir: ca.Dir, caFile: ca.File, certFile: cl.CertFile, keyFile: cl.KeyFile, server: srv.TLS,
		serverCertFile: srv.CertFile, serverKeyFile: srv.KeyFile, pool: ca.Pool}
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
// mosquitto_passwd is not installed (failed under
// HYDROGNN_REQUIRE_SERVICES=1: deploy/dev/mosquitto.sh installs both).
func TestTLSMosquitto(t *testing.T) {
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		bin = "/usr/sbin/mosquitto"
	}
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, testenv.Mosquitto, "mosquitto is not installed (Debian: apt-get install mosquitto)")
		return
	}
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		testenv.Missing(t, testenv.Mosquitto, "mosquitto_passwd is not installed (the broker is "+bin+"; Debian: apt-get install mosquitto)")
		return
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
