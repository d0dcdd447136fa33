package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// releases.online_keys_dir is refused inside releases.repo_dir however it
// is named: a name starting with ".." ("..keys") or a symbolic link into
// the repository is inside it (found by a review: both passed). A sibling
// folder is accepted.
func TestReleasesKeysInsideRepo(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	base := t.TempDir()
	repo := filepath.Join(base, "tuf")
	require.NoError(t, os.MkdirAll(filepath.Join(repo, "private"), 0o755))
	link := filepath.Join(base, "keys-link")
	require.NoError(t, os.Symlink(filepath.Join(repo, "private"), link))
	parse := func(keys string) error {
		_, err := Parse("c.yaml", fmt.Appendf(nil, "releases:\n  repo_dir: %q\n  online_keys_dir: %q\n", repo, keys), env)
		return err
	}
	for _, keys := range []string{filepath.Join(repo, "..keys"), filepath.Join(repo, "..", "tuf", "..k"), link, filepath.Join(link, "online")} {
		err := parse(keys)
		require.ErrorIs(t, err, ErrInvalid, "keys %s", keys)
		assert.Contains(t, err.Error(), "releases.online_keys_dir: ")
		assert.Contains(t, err.Error(), "is inside releases.repo_dir")
	}
	for _, keys := range []string{filepath.Join(base, "tuf..keys"), filepath.Join(base, "keys")} {
		assert.NoError(t, parse(keys), "keys %s", keys)
	}
}
