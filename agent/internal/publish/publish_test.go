package publish

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/ingest/broker"
	"github.com/hydrognn/hydrognn/shared/diag"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{ClientID: "c", Topic: "t"}, "no broker URL"},
		{Options{Broker: "tcp://x:1", Topic: "t"}, "no client id"},
		{Options{Broker: "tcp://x:1", ClientID: "c", Topic: "a/+/b"}, "without wildcards"},
	} {
		_, err := New(tc.o)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// TestPublishAndQueueCap publishes through the embedded broker; while the
// publisher is not running, a full queue drops the oldest, counted.
func TestPublishAndQueueCap(t *testing.T) {
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: quiet()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })

	var mu sync.Mutex
	var got []uint64
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").SetCleanSession(true))
	tok := sub.Connect()
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	t.Cleanup(func() { sub.Disconnect(50) })
	tok = sub.Subscribe("rig/diagnoses", 1, func(_ mqtt.Client, m mqtt.Message) {
		var d diag.Diagnosis
		if json.Unmarshal(m.Payload(), &d) == nil {
			mu.Lock()
			got = append(got, d.Seq)
			mu.Unlock()
		}
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	p, err := New(Options{Broker: b.URL(), ClientID: "agent-pub", Topic: "rig/diagnoses", Queue: 3, Logger: quiet()})
	require.NoError(t, err)
	ctx := context.Background()
	for seq := uint64(1); seq <= 5; seq++ {
		require.NoError(t, p.Enqueue(ctx, diag.Diagnosis{Seq: seq}))
	}
	st := p.Stats()
	assert.Equal(t, uint64(2), st.Dropped, "the two oldest were pushed out")
	assert.Equal(t, 3, st.Queued)

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx) }()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, p.Enqueue(ctx, diag.Diagnosis{Seq: 6}))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 4 }, 10*time.Second, 10*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []uint64{3, 4, 5, 6}, got)
	mu.Unlock()
	st = p.Stats()
	assert.Equal(t, uint64(4), st.Published)
	assert.Positive(t, st.Bytes)
	cancel()
	require.NoError(t, <-done)
	assert.Error(t, p.Enqueue(ctx, diag.Diagnosis{Seq: 7}), "Enqueue after Run ended")
}
