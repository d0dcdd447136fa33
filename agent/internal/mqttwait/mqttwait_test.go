package mqttwait_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
	"github.com/hydrognn/hydrognn/agent/internal/mqttwait"
)

// silentBroker listens on a local port and never accepts: the kernel
// completes a client's TCP handshake into the backlog, nothing ever reads
// its CONNECT, so a connect token to it stays pending. The listener is
// closed at the end of the test.
func silentBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return "tcp://" + l.Addr().String()
}

// client returns a paho client for broker that is disconnected at the end
// of the test; it is not connected yet.
func client(t *testing.T, broker string) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(broker).
		SetClientID("mqttwait-" + strings.ReplaceAll(t.Name(), "/", "-")).
		SetConnectTimeout(time.Minute).SetAutoReconnect(false).SetConnectRetry(false)
	c := mqtt.NewClient(o)
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// pendingToken returns a connect token to a broker that never answers.
func pendingToken(t *testing.T) mqtt.Token {
	t.Helper()
	tok := client(t, silentBroker(t)).Connect()
	select {
	case <-tok.Done():
		t.Fatalf("connect to a silent broker completed: %v", tok.Error())
	case <-time.After(50 * time.Millisecond):
	}
	return tok
}

func TestTokenSuccess(t *testing.T) {
	c := client(t, agenttest.MosquittoURL(t))
	require.NoError(t, mqttwait.Token(t.Context(), c.Connect(), 10*time.Second), "connect")
	tok := c.Publish("mqttwait-test/"+t.Name(), 1, false, []byte("x"))
	require.NoError(t, mqttwait.Token(t.Context(), tok, 10*time.Second), "QoS 1 publish")
}

func TestTokenError(t *testing.T) {
	// A publish on a client that never connected completes at once with
	// paho's error.
	tok := client(t, "tcp://127.0.0.1:1").Publish("t", 1, false, []byte("x"))
	err := mqttwait.Token(t.Context(), tok, time.Minute)
	require.ErrorIs(t, err, mqtt.ErrNotConnected)
}

func TestTokenTimeout(t *testing.T) {
	tok := pendingToken(t)
	start := time.Now()
	err := mqttwait.Token(t.Context(), tok, 100*time.Millisecond)
	require.ErrorIs(t, err, mqttwait.ErrTimeout)
	assert.Contains(t, err.Error(), "within 100ms")
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestTokenContextCancelled(t *testing.T) {
	tok := pendingToken(t)

	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	err := mqttwait.Token(ctx, tok, time.Minute)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), 10*time.Second, "a cancel does not wait for the timeout")

	err = mqttwait.Token(ctx, tok, time.Minute)
	require.ErrorIs(t, err, context.Canceled, "a context already done")

	dctx, dcancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer dcancel()
	err = mqttwait.Token(dctx, tok, time.Minute)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestTokenCompletedWins: a completed token is reported even when the
// context is done and the timeout has passed by the time it is looked at
// (select alone would pick among them at random).
func TestTokenCompletedWins(t *testing.T) {
	failed := client(t, "tcp://127.0.0.1:1").Publish("t", 1, false, []byte("x"))
	<-failed.Done()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for i := range 200 {
		err := mqttwait.Token(ctx, failed, time.Nanosecond)
		require.ErrorIs(t, err, mqtt.ErrNotConnected, "try %d", i)
	}

	c := client(t, agenttest.MosquittoURL(t))
	require.NoError(t, mqttwait.Token(t.Context(), c.Connect(), 10*time.Second), "connect")
	ok := c.Publish("mqttwait-test/"+t.Name(), 1, false, []byte("x"))
	require.NoError(t, mqttwait.Token(t.Context(), ok, 10*time.Second))
	for i := range 200 {
		require.NoError(t, mqttwait.Token(ctx, ok, time.Nanosecond), "try %d: an acknowledged publish", i)
	}
}

func TestTokenInvalid(t *testing.T) {
	err := mqttwait.Token(t.Context(), nil, time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nil")

	tok := pendingToken(t)
	for _, d := range []time.Duration{0, -time.Second} {
		err := mqttwait.Token(t.Context(), tok, d)
		require.Error(t, err, "timeout %s", d)
		assert.Contains(t, err.Error(), "not positive")
		assert.NotErrorIs(t, err, mqttwait.ErrTimeout)
	}
}
