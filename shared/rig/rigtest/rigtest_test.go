package rigtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every config in the folder loads, as the rig type its file is named
// for.
func TestShipped(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(Dir(t), "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no firmware configs in %s: %v", Dir(t), err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if cfg := Shipped(t, name); cfg.RigType != name {
			t.Errorf("%s: rig type %q", f, cfg.RigType)
		}
	}
	if _, err := os.Stat(filepath.Join(Dir(t), "zema-testrig.yaml")); err != nil {
		t.Error(err)
	}
}
