package rigctl

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/release"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
	"github.com/hydrognn/hydrognn/tools/internal/cloudrun"
)

// TestReleasePublish runs the ceremony (keys init, root and targets keys
// to the release manager, snapshot and timestamp keys to rig-cloud), then
// release publish against rig-cloud built from this checkout; go-tuf's
// updater verifies the release from the first root.
func TestReleasePublish(t *testing.T) {
	bin := rigCloudBin(t)
	base := t.TempDir()
	repo, keys := filepath.Join(base, "repo"), filepath.Join(base, "online")
	code, _, errOut := run(t, "keys", "init", "--dir", repo, "--keys", keys)
	require.Equal(t, ExitOK, code, errOut)
	offline := filepath.Join(base, "offline")
	require.NoError(t, os.Mkdir(offline, 0o700))
	for _, role := range []string{"root", "targets"} {
		pems, _ := filepath.Glob(filepath.Join(keys, role+"-*.pem"))
		for _, p := range pems {
			require.NoError(t, os.Rename(p, filepath.Join(offline, filepath.Base(p))))
		}
	}
	root1 := filepath.Join(repo, "1.root.json")

	s, err := cloudrun.Start(context.Background(), cloudrun.Options{Bin: bin, AdminURL: os.Getenv("DATABASE_URL"),
		Env: []string{"RIG_CLOUD_RELEASES_REPO_DIR=" + repo, "RIG_CLOUD_RELEASES_ONLINE_KEYS_DIR=" + keys}})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Stop()) })
	tok := exec.Command(bin, "token", "create", "--release", "--name", "release manager")
	tok.Env = append(os.Environ(), "RIG_CLOUD_DATABASE_URL="+s.DatabaseURL)
	out, err := tok.Output()
	require.NoError(t, err)
	relTok := strings.TrimSpace(string(out))
	t.Setenv(EnvServer, s.URL)
	t.Setenv(EnvToken, relTok)

	bundleDir := "../../../models/bundles/zema-testrig"
	code, stdout, errOut := run(t, "release", "publish", "--root", root1, "--keys", offline, "--bundle", bundleDir, "--hardware", "amd64,jetson-orin")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, stdout, "published zema-testrig/zema-testrig-1.0.0.tar.gz")
	assert.Contains(t, stdout, "(root 1, targets 2, snapshot 2, timestamp 2)")
	assert.Regexp(t, `(?m)^release publish: [0-9.]+ [KM]iB sent in `, errOut, "the upload's progress")

	// The same version again is refused before anything is sent.
	code, _, errOut = run(t, "release", "publish", "--root", root1, "--keys", offline, "--bundle", bundleDir)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "already released")
	// rig-cloud's keys cannot sign targets.
	code, _, errOut = run(t, "release", "publish", "--root", root1, "--keys", keys, "--bundle", bundleDir)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "targets needs 1 of its 1 keys")
	// Another repository's root does not verify this one.
	other := filepath.Join(base, "other")
	code, _, errOut = run(t, "keys", "init", "--dir", other, "--keys", filepath.Join(base, "other-keys"))
	require.Equal(t, ExitOK, code, errOut)
	code, _, errOut = run(t, "release", "publish", "--root", filepath.Join(other, "1.root.json"), "--keys", offline, "--bundle", bundleDir)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "verify the repository")

	// The targets' expiry is renewed without a release; not with the
	// online keys.
	code, stdout, errOut = run(t, "release", "resign", "--root", root1, "--keys", offline, "--targets-expiry", "2400h")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, stdout, "targets re-signed: valid until")
	assert.Contains(t, stdout, "(root 1, targets 3, snapshot 3, timestamp 3)")
	code, _, errOut = run(t, "release", "resign", "--root", root1, "--keys", keys)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "targets needs 1 of its 1 keys")

	// An agent's updater (here with the release token: any credential
	// but a system token may read) verifies and downloads the release.
	rootBytes, err := os.ReadFile(root1)
	require.NoError(t, err)
	cache := t.TempDir()
	u, err := repoClient(cloudclient.New(s.URL, relTok), rootBytes, cache)
	require.NoError(t, err)
	require.NoError(t, u.Refresh())
	tf, err := u.GetTargetInfo("zema-testrig/zema-testrig-1.0.0.tar.gz")
	require.NoError(t, err)
	_, _, err = u.DownloadTarget(tf, filepath.Join(base, "dl.tar.gz"), "")
	require.NoError(t, err)
	rel, err := release.FromTargetFile(tf)
	require.NoError(t, err)
	assert.Equal(t, []string{"amd64", "jetson-orin"}, rel.Hardware)

	// A system token may not even read the repository (403).
	t.Setenv(EnvToken, s.SystemToken)
	code, _, errOut = run(t, "release", "publish", "--root", root1, "--keys", offline, "--bundle", bundleDir)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "403")
}
