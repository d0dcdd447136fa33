package rigctl

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigctl dataset delete deletes a pending data set (an import given up
// before its archive was stored) so that its name is free again; a ready
// one is refused with the server's 409, a bad id is a usage error.
func TestDatasetDelete(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	y, err := os.ReadFile(zemaRigFile)
	require.NoError(t, err)
	c := cloudclient.New(s.URL, admin)
	var d fleetapi.Dataset
	require.NoError(t, c.Do(context.Background(), "POST", "/v1/datasets", nil,
		map[string]string{"name": "given-up", "kind": "sim", "rig_config": string(y)}, &d))
	require.Equal(t, "pending", d.State)

	code, stdout, stderr := run(t, "dataset", "delete", "1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "data set 1 deleted: its name is free again\n", stdout)
	code, _, stderr = run(t, "dataset", "delete", "1")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "404")

	code, _, stderr = run(t, "dataset", "import", "--dir", zemaUCI(t, 4, 3), "--rig", zemaRigFile, "--name", "given-up")
	require.Equal(t, ExitOK, code, "the name is free again: %s", stderr)
	code, _, stderr = run(t, "dataset", "delete", "2", "--json")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
	assert.Contains(t, stderr, "not pending")

	code, _, _ = run(t, "dataset", "delete", "x")
	assert.Equal(t, ExitUsage, code)
	code, _, _ = run(t, "dataset", "delete")
	assert.Equal(t, ExitUsage, code)
}
