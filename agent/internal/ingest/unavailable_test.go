package ingest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestPluginThatCannotStartKeepsTheMessage: a plugin whose process never
// completes its handshake is not the payload's fault. The message is held
// unacknowledged (the broker keeps it) for as many failed starts as it
// takes, never rejected as plugin_failed and acknowledged (review r7 F1).
func TestPluginThatCannotStartKeepsTheMessage(t *testing.T) {
	host := brokenPluginHost(t, 5*time.Millisecond, 20*time.Millisecond)
	broken, err := host.Codec("broken")
	require.NoError(t, err)

	h := newHarness(t, Options{})
	h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) { return broken.Decode(b, p, nil) }
	m := &fakeMsg{topic: "t/p", payload: []byte("1")}
	done := make(chan struct{})
	go func() { defer close(done); h.in.handle(h.s, m) }()
	waitUntil(t, 20*time.Second, "more failed starts than MaxDecodeFailures, or the handler's return", func() bool {
		select {
		case <-done:
			return true
		default:
			return broken.Stats().StartFailures > uint64(2*DefaultMaxDecodeFailures)
		}
	})
	select {
	case it := <-h.s.queue:
		t.Fatalf("the message was given up after %d failed starts: rejected %v", broken.Stats().StartFailures, rejected(it))
	default:
	}
	select {
	case <-done:
		t.Fatal("the handler returned while the session runs")
	default:
	}
	h.s.halt(nil, true)
	<-done
	assert.Empty(t, h.s.queue, "nothing queued")
	assert.Zero(t, m.acks.Load(), "not acknowledged: the broker delivers it again")
	st := h.in.Stats()
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
	assert.Zero(t, st.DecodeFailures, "no failure counted against the payload")
	assert.EqualValues(t, 1, st.PluginWaits)
}
