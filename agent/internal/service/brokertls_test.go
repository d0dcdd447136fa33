package service

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testpki"
)

// tlsMQTT connects a paho client to url with c (nil: plain TCP).
func tlsMQTT(tb testing.TB, url, id string, c *tls.Config) (mqtt.Client, error) {
	tb.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetProtocolVersion(4).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	if c != nil {
		o.SetTLSConfig(c)
	}
	cl := mqtt.NewClient(o)
	tok := cl.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect to %s timed out", url)
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	tb.Cleanup(func() { cl.Disconnect(100) })
	return cl, nil
}

// The embedded broker with broker.listen_tls and client certificates, on
// a non-loopback address without broker.username (a client certificate
// is a credential): the agent's own ingest and diagnosis publisher
// connect through the TLS listener (the agent gets ready, diagnoses are
// published), a gateway with a certificate of the client CA publishes
// readings that are stored and diagnosed end to end, and a gateway
// without a certificate, or over plain TCP, is refused.
func TestEmbeddedBrokerTLS(t *testing.T) {
	needORT(t)
	ca := testpki.New(t, "rig CA")
	srv := ca.Server("broker")
	gwCert := ca.Client("gateway")

	dir := t.TempDir()
	agentID := fmt.Sprintf("emb-tls-%d", time.Now().UnixNano()%1_000_000_000)
	cfgPath := writeConfigLateness(t, dir, agentID, "", "5m")
	withBroker(t, cfgPath, fmt.Sprintf("  embedded: true\n  listen: 0.0.0.0:0\n  listen_tls:\n    cert_file: %s\n    key_file: %s\n    client_ca_file: %s\n",
		srv.CertFile, srv.KeyFile, ca.File))
	a := startAgent(t, cfgPath) // ready: the ingest subscribed over TLS
	require.True(t, strings.HasPrefix(a.BrokerURL(), "ssl://"), a.BrokerURL())
	_, port, err := net.SplitHostPort(strings.TrimPrefix(a.BrokerURL(), "ssl://"))
	require.NoError(t, err)
	url := "ssl://127.0.0.1:" + port

	gwTLS := &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{gwCert.TLS}, MinVersion: tls.VersionTLS12}
	noCert := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	_, err = tlsMQTT(t, url, "emb-tls-nocert", noCert)
	assert.Error(t, err, "a gateway without a client certificate")
	_, err = tlsMQTT(t, "tcp://127.0.0.1:"+port, "emb-tls-plain", nil)
	assert.Error(t, err, "plain MQTT to the TLS listener")

	fwPath := filepath.Join(dir, "zema-testrig.yaml")
	fw, err := rig.Load(fwPath)
	require.NoError(t, err)
	man, err := bundle.Load(filepath.Join(dir, "bundle")) // isolatedRig's copy
	require.NoError(t, err)
	gw := &gateway{fw: fw, means: map[string]float64{}, seq: map[string]uint64{}}
	for _, s := range man.Input.Sensors {
		gw.means[s.ID] = s.Mean
	}
	gw.c, err = tlsMQTT(t, url, fmt.Sprintf("gw-tls-%d", os.Getpid()), gwTLS)
	require.NoError(t, err)

	t0 := cycleStart(15)
	gw.publishCycle(t, t0, nil)
	gw.publishAt(t, t0.Add(6*time.Minute)) // closes the cycle's window
	waitDiagnoses(t, a.APIAddr(), 1)
	var st api.StatusBody
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/status", &st))
	assert.True(t, st.Broker.Connected)
	assert.Equal(t, uint64(60*17+1), st.Ingest.Readings, "every reading stored")
	require.NotNil(t, st.Publish)
	waitFor(t, 10*time.Second, "the diagnosis published", func() bool {
		getJSON(t, a.APIAddr(), "/status", &st)
		return st.Publish.Published == 1
	})
}

// TLS without client certificates is no credential: a non-loopback
// listen without broker.username is still refused.
func TestEmbeddedBrokerTLSWithoutClientCertificatesNeedsCredentials(t *testing.T) {
	needORT(t)
	ca := testpki.New(t, "rig CA")
	srv := ca.Server("broker")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "emb-tls-open", "")
	withBroker(t, cfgPath, fmt.Sprintf("  embedded: true\n  listen: 0.0.0.0:0\n  listen_tls: {cert_file: %s, key_file: %s}\n", srv.CertFile, srv.KeyFile))
	_, err := config.Load(cfgPath)
	require.ErrorIs(t, err, config.ErrInvalid)
	assert.Contains(t, err.Error(), "broker.listen: 0.0.0.0:0 is not a loopback address")
	assert.Contains(t, err.Error(), "broker.listen_tls")
}
