package rigctl

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/hydrognn/hydrognn/shared/release"
)

// TestKeysReleaseVerify runs keys init, release create and keys rotate root
// as a release manager would, then verifies the release with go-tuf's own
// updater over HTTP, starting from the first root.
func TestKeysReleaseVerify(t *testing.T) {
	base := t.TempDir()
	repo, keys := filepath.Join(base, "repo"), filepath.Join(base, "keys")
	code, out, errOut := run(t, "keys", "init", "--dir", repo, "--keys", keys, "--root-threshold", "2", "--root-keys", "3",
		"--timestamp-expiry", "2h")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "root 1, targets 1, snapshot 1, timestamp 1")
	root1, err := os.ReadFile(filepath.Join(repo, "1.root.json"))
	require.NoError(t, err)

	// The root keys go offline: the release manager has the rest.
	online := filepath.Join(base, "online")
	require.NoError(t, os.Mkdir(online, 0o700))
	pems, _ := filepath.Glob(filepath.Join(keys, "*.pem"))
	for _, p := range pems {
		if !strings.HasPrefix(filepath.Base(p), "root-") {
			require.NoError(t, os.Rename(p, filepath.Join(online, filepath.Base(p))))
		}
	}
	code, out, errOut = run(t, "release", "create", "--repo", repo, "--keys", online,
		"--bundle", "../../../models/bundles/zema-testrig", "--hardware", "amd64,jetson-orin")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "released zema-testrig/zema-testrig-1.0.0.tar.gz")
	assert.Contains(t, out, "root 1, targets 2, snapshot 2, timestamp 2")

	// Rotating root needs the root keys; with them it writes 2.root.json.
	code, _, errOut = run(t, "keys", "rotate", "root", "--repo", repo, "--keys", online)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "root needs 2 of its 3 keys")
	code, out, errOut = run(t, "keys", "rotate", "root", "--repo", repo, "--keys", keys, "--threshold", "1", "--count", "1")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "root 2,")

	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	cfg, err := config.New(srv.URL, root1)
	require.NoError(t, err)
	cfg.LocalMetadataDir = filepath.Join(base, "client", "metadata")
	cfg.LocalTargetsDir = filepath.Join(base, "client", "targets")
	u, err := updater.New(cfg)
	require.NoError(t, err)
	require.NoError(t, u.Refresh())
	trusted := u.GetTrustedMetadataSet()
	assert.EqualValues(t, 2, trusted.Root.Signed.Version)
	tf, err := u.GetTargetInfo("zema-testrig/zema-testrig-1.0.0.tar.gz")
	require.NoError(t, err)
	_, _, err = u.DownloadTarget(tf, "", "")
	require.NoError(t, err)
	rel, err := release.FromTargetFile(tf)
	require.NoError(t, err)
	assert.Equal(t, "zema-testrig", rel.RigType)
	assert.Equal(t, []string{"amd64", "jetson-orin"}, rel.Hardware)
}

func TestKeysReleaseUsage(t *testing.T) {
	base := t.TempDir()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"keys"}, ExitUsage, "Usage: rigctl keys init"},
		{[]string{"keys", "init", "--dir", base}, ExitUsage, "--keys KEYS are required"},
		{[]string{"keys", "init", "--dir", base, "--keys", filepath.Join(base, "k")}, ExitFailure, "inside the repository folder"},
		{[]string{"keys", "init", "--dir", filepath.Join(base, "r"), "--keys", filepath.Join(base, "k"), "--timestamp-expiry", "0s"}, ExitUsage, "--timestamp-expiry 0s must be positive"},
		{[]string{"keys", "rotate", "--repo", base}, ExitUsage, "name the ROLE"},
		{[]string{"keys", "rotate", "root", "--repo", filepath.Join(base, "none"), "--keys", filepath.Join(base, "k")}, ExitFailure, "open repository"},
		{[]string{"release"}, ExitUsage, "Usage: rigctl release create"},
		{[]string{"release", "create", "--repo", base}, ExitUsage, "--bundle DIR are required"},
		{[]string{"release", "publish", "--root", "r.json"}, ExitUsage, "--root ROOT, --keys KEYS and --bundle DIR are required"},
		{[]string{"release", "publish", "--root", "r.json", "--keys", "k", "--bundle", "b", "--targets-expiry", "-1h"}, ExitUsage, "must be positive"},
		{[]string{"release", "publish", "--root", filepath.Join(base, "none.json"), "--keys", "k", "--bundle", "b"}, ExitFailure, "none.json"},
		{[]string{"release", "resign", "--root", "r.json"}, ExitUsage, "--root ROOT and --keys KEYS are required"},
	} {
		code, _, errOut := run(t, tt.args...)
		assert.Equal(t, tt.code, code, "%v: %s", tt.args, errOut)
		assert.Contains(t, errOut, tt.want, "%v", tt.args)
	}
}
