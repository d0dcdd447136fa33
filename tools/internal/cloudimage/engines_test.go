package cloudimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tool returns the path of the program name, or skips the test: the
// engines are opt-in (installed: apt-get install skopeo podman).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed: apt-get install %s to run this check", name, name)
	}
	return p
}

// runTool runs a program for at most a minute and returns its stdout.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %s: %s", name, strings.Join(args, " "), stderr.String())
	return string(out)
}

// TestEnginesLoad reads a two-platform archive with the real tools where
// they are installed (skipped otherwise): skopeo sees the index, and
// podman load names the image docker.io/library/rig-cloud:TAG (from
// io.containerd.image.name) and keeps the host's platform, found again by
// its short name.
func TestEnginesLoad(t *testing.T) {
	nat, other := native(t), foreign(t)
	o := options(t, testCerts(t),
		Binary{Platform: "linux/" + nat, Path: hello(t, nat)},
		Binary{Platform: "linux/" + other, Path: hello(t, other)})
	res, err := Build(o)
	require.NoError(t, err)

	t.Run("skopeo", func(t *testing.T) {
		skopeo := tool(t, "skopeo")
		raw := runTool(t, skopeo, "inspect", "--raw", "oci-archive:"+o.Out)
		sum := sha256.Sum256([]byte(raw))
		assert.Equal(t, res.Digest, "sha256:"+hex.EncodeToString(sum[:]), "skopeo reads the index")
		var cfg struct{ Architecture, OS string }
		require.NoError(t, json.Unmarshal([]byte(runTool(t, skopeo, "inspect", "--config", "oci-archive:"+o.Out)), &cfg))
		assert.Equal(t, nat, cfg.Architecture)
		runTool(t, skopeo, "copy", "--all", "oci-archive:"+o.Out, "oci:"+t.TempDir()+":copy")
	})

	t.Run("podman", func(t *testing.T) {
		podman := tool(t, "podman")
		root, err := os.MkdirTemp("", "cloudimage-podman-")
		require.NoError(t, err)
		t.Cleanup(func() {
			// podman's storage may still be closing; a second try removes it.
			if os.RemoveAll(root) != nil {
				time.Sleep(time.Second)
				os.RemoveAll(root)
			}
		})
		base := []string{"--root", root + "/root", "--runroot", root + "/run", "--storage-driver", "vfs"}
		out := runTool(t, podman, append(base, "load", "-i", o.Out)...)
		assert.Contains(t, out, "Loaded image: docker.io/library/rig-cloud:1.2.3")
		arch := runTool(t, podman, append(base, "image", "inspect", "--format", "{{.Architecture}}", "rig-cloud:1.2.3")...)
		assert.Equal(t, nat, strings.TrimSpace(arch), "podman keeps the host's platform")
	})
}
