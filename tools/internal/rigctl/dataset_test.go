package rigctl

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigctl dataset import registers the folder and uploads its archive to
// a rig-cloud built from this checkout; the data set is ready to train.
func TestDatasetImport(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	dir := zemaUCI(t, 4, 3)

	code, stdout, stderr := run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile, "--description", "synthetic")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^data set 1 zema-sim: sim, rig type zema-testrig, ready, archive [0-9.]+ KB sha256:[0-9a-f]{64}\n$`, stdout)

	var d struct {
		State string `json:"state"`
	}
	c := cloudclient.New(s.URL, admin)
	require.NoError(t, c.Do(context.Background(), "GET", "/v1/datasets/1", nil, nil, &d))
	assert.Equal(t, "ready", d.State)

	// The name is taken now: the server's problem is printed.
	code, _, stderr = run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
	code, _, _ = run(t, "dataset", "import", "--dir", dir)
	assert.Equal(t, ExitUsage, code)
	code, _, stderr = run(t, "dataset", "import", "--dir", dir, "--rig", dir)
	assert.Equal(t, ExitFailure, code, stderr)
}
