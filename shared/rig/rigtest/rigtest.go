package rigtest

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Dir returns the repository's firmware-configs folder, found from this
// file's location in the checkout. It fails the test if that location is
// not known.
func Dir(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("rigtest: no caller: the checkout's firmware-configs folder is not known")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "firmware-configs")
}

// Shipped loads and validates firmware-configs/<name>.yaml (rig.Load);
// failures end the test.
func Shipped(tb testing.TB, name string) *rig.Config {
	tb.Helper()
	cfg, err := rig.Load(filepath.Join(Dir(tb), name+".yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}
