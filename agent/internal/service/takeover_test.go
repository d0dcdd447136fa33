package service

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Gateways share broker.username: one connecting with the ingest's client
// id (broker.client_id) must be refused, not take the ingest's
// persistent session over (its subscription and held messages); the
// ingest stays connected. The same for the diagnosis publisher's id.
func TestEmbeddedBrokerRefusesIngestTakeover(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "emb-takeover", "")
	pw := filepath.Join(dir, "broker-password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	withBroker(t, cfgPath, "  embedded: true\n  listen: 127.0.0.1:0\n  username: rig\n  password_file: "+pw+"\n")
	a := startAgent(t, cfgPath)

	o := mqtt.NewClientOptions().AddBroker(a.BrokerURL()).SetClientID(a.cfg.Broker.ClientID).SetCleanSession(false).
		SetProtocolVersion(4).SetUsername("rig").SetPassword("s3cret").SetConnectTimeout(5 * time.Second).SetAutoReconnect(false)
	c := mqtt.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	if tok.Error() == nil {
		c.Disconnect(50)
	}
	require.Error(t, tok.Error(), "a gateway's login with the ingest's client id")
	assert.EqualValues(t, 1, a.brk.Stats().TakeoversRefused)
	time.Sleep(200 * time.Millisecond) // a takeover would have disconnected the ingest by now
	assert.Empty(t, a.NotReady(), "the ingest keeps its session")

	// The diagnosis publisher's client id is reserved too: a gateway
	// using it would knock the publisher off at every connect.
	require.NotNil(t, a.pub)
	waitFor(t, 15*time.Second, "publisher connected", func() bool { return a.pub.Stats().Connected })
	o.SetClientID(pubClientID(a.cfg.Broker.ClientID)).SetCleanSession(true)
	c = mqtt.NewClient(o)
	tok = c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	if tok.Error() == nil {
		c.Disconnect(50)
	}
	require.Error(t, tok.Error(), "a gateway's login with the publisher's client id")
	assert.EqualValues(t, 2, a.brk.Stats().TakeoversRefused)
	time.Sleep(200 * time.Millisecond) // a takeover would have disconnected the publisher by now
	assert.True(t, a.pub.Stats().Connected, "the publisher keeps its connection")
	// The embedded broker's counters reach /metrics.
	assert.Contains(t, getText(t, a.APIAddr(), "/metrics"), `rig_agent_broker_refused_connections_total{reason="takeover"} 2`+"\n")
}
