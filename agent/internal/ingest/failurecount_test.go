package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/plugin"
	"github.com/hydrognn/hydrognn/shared/codec"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestDecodeFailuresClearedBySuccess: messages with the same bytes (a
// value-only payload that takes the arrival time) each hit one transient
// plugin failure and then decode. Each is stored: the count of a payload
// whose decode succeeded starts from zero, it does not add up across
// messages until one is dropped after a single failure (review r7 F2).
func TestDecodeFailuresClearedBySuccess(t *testing.T) {
	h := newHarness(t, Options{})
	calls := 0
	h.dec.Fn = func(b codec.Binding, p []byte) ([]reading.Reading, error) {
		calls++
		if calls%2 == 1 { // the first call of each message fails
			return nil, fmt.Errorf("test: %w: the plugin process died during the call", plugin.ErrFailed)
		}
		// A time of its own per message: the harness's clock stands still.
		return []reading.Reading{{Sensor: b.Sensor, Time: b.Now.Add(time.Duration(calls)), Value: 1}}, nil
	}
	n := 2 * DefaultMaxDecodeFailures
	for i := range n {
		it := h.send("t/p", "1")
		require.NotNil(t, it)
		assert.Empty(t, rejected(it), "message %d", i)
		assert.Len(t, it.readings, 1, "message %d stored", i)
	}
	st := h.in.Stats()
	assert.Zero(t, st.Rejected[ReasonPluginFailed])
	assert.EqualValues(t, n, st.DecodeFailures)
	assert.Empty(t, h.in.failures, "nothing remembered after the decodes succeeded")
}
