package rigctl

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// TestBenchCheckin: the bench's agents check in as a current agent does,
// with the bundle formats it reads and its model, and the check-in is
// valid.
func TestBenchCheckin(t *testing.T) {
	req := benchCheckin(cloudapi.EnrollResponse{AgentID: "agent-rig-00001", RigID: "rig-00001", RigType: "zema-testrig"}, time.Now())
	require.NotNil(t, req.BundleFormats)
	assert.Equal(t, cloudapi.BundleFormats{Min: bundle.MinFormatVersion, Max: bundle.FormatVersion}, *req.BundleFormats)
	assert.Equal(t, &benchModel, req.Model)
	body, err := json.Marshal(req)
	require.NoError(t, err)
	got, err := cloudapi.DecodeCheckin(body)
	require.NoError(t, err)
	assert.Equal(t, *req.BundleFormats, got.Formats())
}
