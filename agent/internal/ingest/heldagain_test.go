package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestTopicHeldAgainWithoutWait: a topic held in the last session whose
// plugin is still backing off (ErrRestarting) is held at once, without the
// MaxPluginWait that stalls every topic behind the serial handler (review
// r10 F1).
func TestTopicHeldAgainWithoutWait(t *testing.T) {
	h := newHarness(t, Options{MaxPluginWait: 2 * time.Second, HeldRetry: time.Minute})
	h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) {
		return nil, fmt.Errorf("test: %w: %w: %w: restarting in 1s", plugin.ErrFailed, plugin.ErrUnavailable, plugin.ErrRestarting)
	}
	h.in.lastHeld = map[string]bool{"t/p": true}
	m := &fakeMsg{topic: "t/p", payload: []byte("1")}
	start := time.Now()
	h.in.handle(h.s, m)
	assert.Less(t, time.Since(start), time.Second, "no MaxPluginWait")
	assert.True(t, h.s.held["t/p"], "held")
	assert.Empty(t, h.s.queue)
	assert.Zero(t, m.acks.Load())
}
