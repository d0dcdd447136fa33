package broker

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testpki"
)

const tlsWait = 10 * time.Second

func withTLS(c *tls.Config) func(*mqtt.ClientOptions) {
	return func(o *mqtt.ClientOptions) { o.SetTLSConfig(c) }
}

// A TLS listener: a client that trusts the CA connects and its messages
// are routed; plain MQTT to the TLS port, a client that does not trust
// the certificate and one below TLS 1.2 are refused; the agent's own
// client config (ClientTLS) connects, and accepts no other server.
func TestTLSListener(t *testing.T) {
	ca := testpki.New(t, "broker test CA")
	srvCert := ca.Server("server")
	b := start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{srvCert.TLS}}})
	require.True(t, strings.HasPrefix(b.URL(), "ssl://"), b.URL())

	trusting := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	sub := mustClient(t, b.URL(), randomID("sub-"), true, withTLS(trusting))
	got := make(chan string, 1)
	tok := sub.Subscribe("tls/test", 1, func(_ mqtt.Client, m mqtt.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(tlsWait) && tok.Error() == nil, "subscribe: %v", tok.Error())
	pub := mustClient(t, b.URL(), randomID("gw-"), true, withTLS(b.ClientTLS()))
	tok = pub.Publish("tls/test", 1, false, "over TLS")
	require.True(t, tok.WaitTimeout(tlsWait) && tok.Error() == nil, "publish: %v", tok.Error())
	select {
	case m := <-got:
		assert.Equal(t, "over TLS", m)
	case <-time.After(tlsWait):
		t.Fatal("the message never arrived")
	}

	plainURL := "tcp://" + b.Addr()
	_, err := client(t, plainURL, randomID("plain-"), true)
	assert.Error(t, err, "plain MQTT to the TLS port")
	_, err = client(t, b.URL(), randomID("untrusting-"), true, withTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	assert.Error(t, err, "a client that does not trust the broker's certificate")
	_, err = client(t, b.URL(), randomID("old-"), true, withTLS(&tls.Config{RootCAs: ca.Pool,
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})) //nolint:gosec // the point of the test
	assert.Error(t, err, "TLS 1.1")

	// ClientTLS pins the broker's certificate: another broker with a
	// certificate of the same CA is refused.
	other := start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Server("other").TLS}}})
	_, err = client(t, other.URL(), randomID("pinned-"), true, withTLS(b.ClientTLS()))
	assert.Error(t, err, "ClientTLS of one broker against another")
	assert.Nil(t, start(t, Options{}).ClientTLS(), "no TLS, no ClientTLS")
}

// With a client CA, a client must present a certificate that CA signed;
// the agent's own clients (ClientTLS) present their own, which the broker
// trusts besides the CA.
func TestTLSClientCertificates(t *testing.T) {
	ca := testpki.New(t, "broker test CA")
	clientCA := testpki.New(t, "gateway CA")
	stranger := testpki.New(t, "stranger CA")
	b := start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Server("server").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}})

	base := &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
	_, err := client(t, b.URL(), randomID("nocert-"), true, withTLS(base))
	assert.Error(t, err, "no client certificate")
	withCert := func(p testpki.Pair) *tls.Config {
		c := base.Clone()
		c.Certificates = []tls.Certificate{p.TLS}
		return c
	}
	_, err = client(t, b.URL(), randomID("stranger-"), true, withTLS(withCert(stranger.Client("gw"))))
	assert.Error(t, err, "a certificate another CA signed")
	// A server certificate of the client CA is not for client
	// authentication.
	_, err = client(t, b.URL(), randomID("serverauth-"), true, withTLS(withCert(clientCA.Server("not-a-client"))))
	assert.Error(t, err, "a certificate without client authentication")

	mustClient(t, b.URL(), randomID("gw-"), true, withTLS(withCert(clientCA.Client("gw"))))
	mustClient(t, b.URL(), randomID("agent-"), true, withTLS(b.ClientTLS()))
	// The agent's certificate is trusted by this broker only: another
	// broker with the same client CA refuses it.
	other := start(t, Options{TLS: &tls.Config{Certificates: []tls.Certificate{ca.Server("other").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}})
	c := b.ClientTLS()
	c.InsecureSkipVerify, c.VerifyConnection, c.RootCAs = false, nil, ca.Pool
	_, err = client(t, other.URL(), randomID("agent-"), true, withTLS(c))
	assert.Error(t, err, "one broker's agent certificate at another broker")
}

func TestTLSOptionsErrors(t *testing.T) {
	ca := testpki.New(t, "broker test CA")
	for _, tc := range []struct {
		tls  *tls.Config
		want string
	}{
		{&tls.Config{}, "TLS has no Certificates"},
		{&tls.Config{Certificates: []tls.Certificate{ca.Server("s").TLS}, ClientAuth: tls.RequireAndVerifyClientCert},
			"no ClientCAs"},
	} {
		_, err := Start(Options{Addr: "127.0.0.1:0", TLS: tc.tls, Logger: testLogger(t)})
		require.ErrorIs(t, err, ErrOptions)
		assert.Contains(t, err.Error(), tc.want)
	}
}
