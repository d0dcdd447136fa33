package cloudapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A re-enrolled agent (same id, a new generation, its sequence restarted
// at 1) never sends an earlier identity's Idempotency-Key: a server that
// caches responses by key would replay the old identity's answer.
func TestKeysIncludeTheGeneration(t *testing.T) {
	assert.NotEqual(t, BatchKey("rig-001", 1, []uint64{1, 2, 3}), BatchKey("rig-001", 2, []uint64{1, 2, 3}))
	assert.NotEqual(t, UploadKey("rig-001", 1, "up-1", 0), UploadKey("rig-001", 2, "up-1", 0))
	// The fields stay apart: no generation shifts into the request id.
	assert.NotEqual(t, UploadKey("rig-001", 0, "up-1", 0), UploadKey("rig-001", 1, "up-1", 0))
}

// The check-in answer carries the generation; an older cloud's answer
// without it decodes as 0.
func TestCheckinResponseGeneration(t *testing.T) {
	r, err := DecodeCheckinResponse([]byte(`{"server_time":"2025-03-01T12:00:00Z","limits":{},"generation":3}`))
	require.NoError(t, err)
	assert.Equal(t, 3, r.Generation)
	r, err = DecodeCheckinResponse([]byte(`{"server_time":"2025-03-01T12:00:00Z","limits":{}}`))
	require.NoError(t, err)
	assert.Zero(t, r.Generation)
	b, err := json.Marshal(CheckinResponse{})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "generation", "omitted when unknown")
}
