package rigctl

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// An import that registered its data set and stopped before the archive
// was stored leaves it pending: the same import again stores the archive
// into it rather than failing on the taken name. Another kind or firmware
// config does not resume it.
func TestDatasetImportResumesPending(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	y, err := os.ReadFile(zemaRigFile)
	require.NoError(t, err)
	dir := zemaUCI(t, 4, 3)
	c := cloudclient.New(s.URL, admin)
	ctx := context.Background()
	// The interrupted import: registered, no archive.
	var d fleetapi.Dataset
	require.NoError(t, c.Do(ctx, "POST", "/v1/datasets", nil, map[string]string{"name": "zema-sim", "kind": "sim", "rig_config": string(y)}, &d))
	require.Equal(t, "pending", d.State)

	code, _, stderr := run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile, "--kind", "uci")
	assert.Equal(t, ExitFailure, code, "another kind: not the interrupted import")
	assert.Contains(t, stderr, "409")

	code, stdout, stderr := run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile)
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stderr, "is registered without its archive: storing it now")
	assert.Regexp(t, `^data set 1 zema-sim: sim, rig type zema-testrig, ready, archive [0-9.]+ KB sha256:[0-9a-f]{64}\n$`, stdout)

	// Ready now: the name is taken for good.
	code, _, stderr = run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "409")
}

// A folder that is not the UCI layout of the firmware config is refused
// before anything is registered: its name stays free.
func TestDatasetImportChecksLayout(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	dir := filepath.Join(t.TempDir(), "zema-sim")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a data set\n"), 0o644))

	code, _, stderr := run(t, "dataset", "import", "--dir", dir, "--rig", zemaRigFile)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "is not a data set of rig type zema-testrig in the UCI layout: it lacks profile.txt, PS1.txt")
	var ds struct {
		Items []fleetapi.Dataset `json:"items"`
	}
	require.NoError(t, cloudclient.New(s.URL, admin).Do(context.Background(), "GET", "/v1/datasets", nil, nil, &ds))
	assert.Empty(t, ds.Items, "nothing registered")
}
