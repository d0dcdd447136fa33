package tests

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

// repoRoot is the repository root (the tests module is one level below).
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs("..")
	require.NoError(tb, err)
	_, err = os.Stat(filepath.Join(root, "go.work"))
	require.NoError(tb, err, "tests must run from the tests module folder")
	return root
}

// EnvRace, set to 1, builds the binaries the tests run with the race
// detector (HYDROGNN_TEST_RACE=1 make e2e): a data race in rig-agent or rig-cloud then
// prints a report into the process's log, which fails the test.
const EnvRace = "HYDROGNN_TEST_RACE"

// built is the one build of the four binaries per test binary run:
// buildBinaries makes it on first use, TestMain removes its folder at the
// end.
var built struct {
	once sync.Once
	dir  string // the temporary folder, set once the build started
	err  error  // the build's error, with its output; nil when it worked
}

// TestMain runs the tests, then removes the folder buildBinaries built
// into (the binaries are shared by every test that needs them, so no
// single test's cleanup may remove them).
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		if err := os.RemoveAll(built.dir); err != nil {
			fmt.Fprintf(os.Stderr, "tests: remove the built binaries: %v\n", err)
		}
	}
	os.Exit(code)
}

// buildBinaries builds rig-agent, rig-cloud, rigctl and rigsim (with
// -race under EnvRace) into a temporary folder once per test binary run
// and returns it, so that the tests that need them do not each link the
// four. A failed build fails every test that calls it, each with the
// build's output.
func buildBinaries(tb testing.TB) string {
	tb.Helper()
	root := repoRoot(tb) // outside once: a failed require there would leave it done and empty
	built.once.Do(func() { built.dir, built.err = build(root) })
	require.NoError(tb, built.err)
	return built.dir
}

// build builds the four binaries from the repository at root into a new
// temporary folder and returns it; the folder is returned, for removal,
// even when the build fails.
func build(root string) (string, error) {
	dir, err := os.MkdirTemp("", "hydrognn-tests-bin-")
	if err != nil {
		return "", fmt.Errorf("go build: temporary folder for the binaries: %w", err)
	}
	args := []string{"build", "-o", dir + "/"}
	if os.Getenv(EnvRace) == "1" {
		args = append(args, "-race")
	}
	args = append(args, "./agent/cmd/rig-agent", "./cloud/cmd/rig-cloud", "./tools/cmd/rigctl", "./tools/cmd/rigsim")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return dir, fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), root, err, out)
	}
	return dir, nil
}

// readmeCommands returns the lines of the README's ```sh blocks.
func readmeCommands(tb testing.TB, path string) []string {
	tb.Helper()
	f, err := os.Open(path)
	require.NoError(tb, err)
	defer f.Close()
	var cmds []string
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in && strings.TrimSpace(line) != "":
			cmd, _, _ := strings.Cut(line, " #")
			cmds = append(cmds, strings.TrimSpace(cmd))
		}
	}
	require.NoError(tb, sc.Err())
	return cmds
}

// TestREADMECommands runs every command of the README's sh blocks that
// starts with bin/ against freshly built binaries. The make targets in the
// README (build, test, demo) are run by CI (.ci/run).
func TestREADMECommands(t *testing.T) {
	root := repoRoot(t)
	cmds := readmeCommands(t, filepath.Join(root, "README.md"))
	require.NotEmpty(t, cmds)
	var makeTargets, binCmds []string
	for _, c := range cmds {
		switch {
		case strings.HasPrefix(c, "make "):
			makeTargets = append(makeTargets, strings.TrimPrefix(c, "make "))
		case strings.HasPrefix(c, "bin/"):
			binCmds = append(binCmds, c)
		default:
			t.Errorf("README command %q is neither `make ...` nor `bin/...`: make this test run it", c)
		}
	}
	ci, err := os.ReadFile(filepath.Join(root, ".ci/run"))
	require.NoError(t, err)
	for _, target := range makeTargets {
		assert.Contains(t, string(ci), "make "+target, "CI runs the README's `make %s`", target)
	}

	bin := buildBinaries(t)
	tmp := t.TempDir()
	for _, c := range binCmds {
		t.Run(c, func(t *testing.T) {
			if strings.Contains(c, "$MQTT_URL") && os.Getenv("MQTT_URL") == "" {
				testenv.Missing(t, testenv.Mosquitto, "MQTT_URL is not set")
				return
			}
			if strings.Contains(c, "../shared/data") {
				if _, err := os.Stat(filepath.Join(root, "../shared/data")); err != nil {
					t.Skip("../shared/data is absent")
				}
			}
			// /tmp/ first: bin's own path lies under the temporary folder.
			line := strings.ReplaceAll(c, "/tmp/", tmp+"/")
			line = strings.ReplaceAll(line, "bin/", bin+"/")
			cmd := exec.Command("bash", "-c", line)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s\n%s", c, out)
		})
	}
}

// TestBuildBinariesOnce checks that the tests share one build: a second
// call returns the first one's folder, which holds the four binaries.
func TestBuildBinariesOnce(t *testing.T) {
	first := buildBinaries(t)
	assert.Equal(t, first, buildBinaries(t), "a second call builds again")
	for _, name := range []string{"rig-agent", "rig-cloud", "rigctl", "rigsim"} {
		fi, err := os.Stat(filepath.Join(first, name))
		if assert.NoError(t, err, "the build left no %s", name) {
			assert.True(t, fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0, "%s is not an executable file: %s", name, fi.Mode())
		}
	}
}
