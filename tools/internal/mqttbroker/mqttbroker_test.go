package mqttbroker_test

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/mqttbroker"
)

// connect returns a connected paho client (auto-reconnect off).
func connect(t *testing.T, url, id, user, pass string) (paho.Client, error) {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return nil, fmt.Errorf("connect %s: timed out", id)
	}
	return c, tok.Error()
}

// closeWithin fails the test, with every goroutine's stack, when Close
// does not return within d.
func closeWithin(t *testing.T, b *mqttbroker.Broker, d time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(d):
		buf := make([]byte, 1<<20)
		t.Fatalf("broker Close did not return within %v:\n%s", d, buf[:runtime.Stack(buf, true)])
	}
}

func TestLoginsAndRoundTrip(t *testing.T) {
	rec := &recordHook{}
	b, err := mqttbroker.Start(mqttbroker.Options{Users: map[string]string{"gw": "secret"}, Hooks: []mochi.Hook{rec}})
	require.NoError(t, err)
	t.Cleanup(func() { closeWithin(t, b, 10*time.Second) })
	assert.Equal(t, "tcp://"+b.Addr(), b.URL())

	_, err = connect(t, b.URL(), "intruder", "gw", "wrong")
	require.Error(t, err, "a wrong password must be refused")

	c, err := connect(t, b.URL(), "gw-1", "gw", "secret")
	require.NoError(t, err)
	defer c.Disconnect(0)
	got := make(chan string, 1)
	tok := c.Subscribe("rig/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	tok = c.Publish("rig/ps1", 1, false, "42")
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	select {
	case p := <-got:
		assert.Equal(t, "42", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the subscriber got nothing")
	}
	assert.Equal(t, []string{"rig/ps1"}, rec.topics())
}

// A connection that never sends its CONNECT: mochi-mqtt 2.7.9's own
// listener leaves it reading for ever and Server.Close waits for it.
func TestCloseWithSilentConnection(t *testing.T) {
	b, err := mqttbroker.Start(mqttbroker.Options{})
	require.NoError(t, err)
	conn, err := net.Dial("tcp", b.Addr())
	require.NoError(t, err)
	defer conn.Close()
	c, err := connect(t, b.URL(), "gw-1", "", "")
	require.NoError(t, err)
	defer c.Disconnect(0)
	closeWithin(t, b, 10*time.Second)

	// The broker is gone: the silent connection was closed, new ones are refused.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Read(make([]byte, 1))
	require.Error(t, err)
	assert.False(t, isTimeout(err), "the silent connection must be closed, not left open: %v", err)
	_, err = connect(t, b.URL(), "gw-2", "", "")
	require.Error(t, err)
	require.NoError(t, b.Close(), "Close is idempotent")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Clients connecting and disconnecting while the broker closes: the
// interleaving that deadlocks mochi-mqtt 2.7.9's Server.Close
// (mochi-mqtt/server issue 488) is a matter of nanoseconds, so this is
// a guard over many rounds, not a reproduction.
func TestCloseWhileClientsComeAndGo(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	for r := range rounds {
		b, err := mqttbroker.Start(mqttbroker.Options{})
		require.NoError(t, err)
		var clients []paho.Client
		for i := range 4 {
			c, err := connect(t, b.URL(), fmt.Sprintf("r%d-c%d", r, i), "", "")
			require.NoError(t, err)
			clients = append(clients, c)
		}
		var wg sync.WaitGroup
		for _, c := range clients {
			wg.Go(func() { c.Disconnect(0) })
		}
		for i := range 4 {
			wg.Go(func() {
				if c, err := connect(t, b.URL(), fmt.Sprintf("r%d-n%d", r, i), "", ""); err == nil {
					c.Disconnect(0)
				}
			})
		}
		closeWithin(t, b, 10*time.Second)
		wg.Wait()
	}
}

// recordHook records the topics of the PUBLISH packets the broker accepts.
type recordHook struct {
	mochi.HookBase
	mu sync.Mutex
	ts []string
}

func (h *recordHook) ID() string           { return "record" }
func (h *recordHook) Provides(b byte) bool { return b == mochi.OnPublish }
func (h *recordHook) topics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ts...)
}
func (h *recordHook) OnPublish(_ *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	h.ts = append(h.ts, pk.TopicName)
	h.mu.Unlock()
	return pk, nil
}
