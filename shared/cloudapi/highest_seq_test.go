package cloudapi

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// highest_seq is optional both ways: absent (a cloud older than the
// field, or no diagnosis stored) decodes as 0, and it is left out when 0.
func TestCheckinResponseHighestSeq(t *testing.T) {
	r, err := DecodeCheckinResponse([]byte(`{"server_time":"2025-03-01T12:00:00Z","limits":{},"generation":2,"highest_seq":18446744073709551615}`))
	require.NoError(t, err)
	assert.Equal(t, uint64(18446744073709551615), r.HighestSeq)
	r, err = DecodeCheckinResponse([]byte(`{"server_time":"2025-03-01T12:00:00Z","limits":{}}`))
	require.NoError(t, err)
	assert.Zero(t, r.HighestSeq)
	b, err := json.Marshal(CheckinResponse{})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "highest_seq")
}
