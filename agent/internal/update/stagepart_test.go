package update

import (
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/hydrognn/hydrognn/shared/release"
)

// downloaded leaves the repository's archive of rel (signed as tf) where a
// complete download leaves it, as a's part file, and returns its Target:
// what verifyAndStage takes next.
func (f *fixture) downloaded(a *agent, rel *release.Target, tf *metadata.TargetFiles) *Target {
	f.t.Helper()
	sha := hex.EncodeToString(tf.Hashes["sha256"])
	b, err := os.ReadFile(f.archive(rel.Path()))
	if err != nil {
		f.t.Fatal(err)
	}
	part := a.partPath(sha)
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(part, b, 0o644); err != nil {
		f.t.Fatal(err)
	}
	return &Target{Path: rel.Path(), Length: tf.Length, SHA256: sha, Release: rel}
}
