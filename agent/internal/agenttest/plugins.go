package agenttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// The codec plugins built by Plugins: one directory per test binary,
// removed by RemovePlugins.
var plugins struct {
	sync.Mutex
	dir   string
	built map[string]bool
}

// Plugins returns a directory holding the codec plugin binaries named
// prefix+name for each name, built with go build on first use and kept
// for the rest of the test binary: "example" is the shipped example
// plugin (agent/plugins/examplecodec), any other name a test plugin of
// agent/internal/plugin/testdata. prefix is the host's binary prefix
// (plugin.BinaryPrefix; agenttest cannot import the plugin package, whose
// own tests use this). A package that calls Plugins removes the directory
// with RemovePlugins from its TestMain.
func Plugins(tb testing.TB, prefix string, names ...string) string {
	tb.Helper()
	plugins.Lock()
	defer plugins.Unlock()
	if plugins.dir == "" {
		dir, err := os.MkdirTemp("", "codec-plugins-")
		require.NoError(tb, err)
		plugins.dir, plugins.built = dir, map[string]bool{}
	}
	_, self, _, ok := runtime.Caller(0)
	require.True(tb, ok, "agenttest: no source path")
	internal := filepath.Dir(filepath.Dir(self)) // agent/internal
	for _, name := range names {
		if plugins.built[prefix+name] {
			continue
		}
		pkg := filepath.Join(internal, "plugin", "testdata", name)
		if name == "example" {
			pkg = filepath.Join(filepath.Dir(internal), "plugins", "examplecodec", "cmd", "hydrognn-codec-example")
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(plugins.dir, prefix+name), ".")
		cmd.Dir = pkg
		if out, err := cmd.CombinedOutput(); err != nil {
			require.NoError(tb, fmt.Errorf("go build %s: %w\n%s", pkg, err, out))
		}
		plugins.built[prefix+name] = true
	}
	return plugins.dir
}

// RemovePlugins removes the directory Plugins built into, if any.
func RemovePlugins() {
	plugins.Lock()
	defer plugins.Unlock()
	if plugins.dir != "" {
		_ = os.RemoveAll(plugins.dir)
		plugins.dir, plugins.built = "", nil
	}
}
