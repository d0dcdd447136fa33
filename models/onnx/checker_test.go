package onnx_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkerPython is the interpreter whose `onnx` package (Debian's
// python3-onnx) validates the models.
const checkerPython = "/usr/bin/python3"

// checkerScript runs ONNX's own checker with full_check (strict shape and
// type inference) on each path and prints one line per failure.
const checkerScript = `
import sys, onnx
print("onnx", onnx.__version__)
for p in sys.argv[1:]:
    try:
        onnx.checker.check_model(p, full_check=True)
    except Exception as e:
        print("FAIL", p, str(e).replace("\n", " "))
`

// TestONNXChecker runs the official ONNX checker (with strict shape
// inference) over every model the tests build, when /usr/bin/python3 can
// import onnx (apt-get install python3-onnx); it skips otherwise.
func TestONNXChecker(t *testing.T) {
	if err := exec.Command(checkerPython, "-c", "import onnx").Run(); err != nil {
		t.Skipf("%s cannot import onnx (%v): apt-get install python3-onnx to run the ONNX checker", checkerPython, err)
	}
	dir := t.TempDir()
	var paths []string
	for name, data := range allModels(t) {
		p := filepath.Join(dir, name+".onnx")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		paths = append(paths, p)
	}
	slices.Sort(paths)
	out, err := exec.Command(checkerPython, append([]string{"-c", checkerScript}, paths...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("%s checked %d models", lines[0], len(paths))
	for _, l := range lines[1:] {
		t.Error(l)
	}
}
