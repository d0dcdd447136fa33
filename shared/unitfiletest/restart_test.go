package unitfiletest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestRestartPreventExitStatus: lines add up, an empty one clears,
// statuses and signals apart.
func TestRestartPreventExitStatus(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.service")
	unit := "[Service]\nRestartPreventExitStatus=1 SIGKILL\nRestartPreventExitStatus=\nRestartPreventExitStatus=64 65\nRestartPreventExitStatus=78 SIGABRT\n"
	if err := os.WriteFile(p, []byte(unit), 0o600); err != nil {
		t.Fatal(err)
	}
	statuses, signals := Read(t, p).RestartPreventExitStatus(t)
	if want := []int{64, 65, 78}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if want := []string{"SIGABRT"}; !slices.Equal(signals, want) {
		t.Errorf("signals %q, want %q", signals, want)
	}
}
