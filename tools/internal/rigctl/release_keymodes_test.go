package rigctl

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rigctl refuses a keys folder that group or others may access (keys
// init into an existing one, release create, keys rotate) and a private
// key file they may read, naming it, its mode and the chmod that fixes
// it (review r4, "Key handling").
func TestReleaseKeyModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	base := t.TempDir()
	repo, keys := filepath.Join(base, "repo"), filepath.Join(base, "keys")
	require.NoError(t, os.Mkdir(keys, 0o700))
	require.NoError(t, os.Chmod(keys, 0o755))
	code, _, errOut := run(t, "keys", "init", "--dir", repo, "--keys", keys)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "the keys folder "+keys+" is mode 0755: group or others may access it; make it private (chmod 700 "+keys+")")
	require.NoError(t, os.Chmod(keys, 0o700))
	code, _, errOut = run(t, "keys", "init", "--dir", repo, "--keys", keys)
	require.Equal(t, ExitOK, code, errOut)

	pems, _ := filepath.Glob(filepath.Join(keys, "targets-*.pem"))
	require.Len(t, pems, 1)
	require.NoError(t, os.Chmod(pems[0], 0o640))
	code, _, errOut = run(t, "release", "create", "--repo", repo, "--keys", keys, "--bundle", "../../../models/bundles/zema-testrig")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "the private key "+pems[0]+" is mode 0640: group or others may read it; make it private (chmod 600 "+pems[0]+")")
	code, _, errOut = run(t, "keys", "rotate", "timestamp", "--repo", repo, "--keys", keys)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "chmod 600 "+pems[0])
	require.NoError(t, os.Chmod(pems[0], 0o600))

	require.NoError(t, os.Chmod(keys, 0o711))
	code, _, errOut = run(t, "release", "create", "--repo", repo, "--keys", keys, "--bundle", "../../../models/bundles/zema-testrig")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "mode 0711")
	require.NoError(t, os.Chmod(keys, 0o700))
	code, out, errOut := run(t, "release", "create", "--repo", repo, "--keys", keys, "--bundle", "../../../models/bundles/zema-testrig")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "released zema-testrig/zema-testrig-1.0.0.tar.gz")
}
