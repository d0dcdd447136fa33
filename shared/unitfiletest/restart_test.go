package unitfiletest

import (
	"slices"
	"testing"
)

// TestRestartPreventExitStatus: lines add up, an empty one clears,
// statuses and signals apart.
func TestRestartPreventExitStatus(t *testing.T) {
	p := writeFile(t, t.TempDir(), "x.service", "[Service]\nRestartPreventExitStatus=1 SIGKILL\nRestartPreventExitStatus=\nRestartPreventExitStatus=64 65\nRestartPreventExitStatus=78 SIGABRT\n")
	statuses, signals := Read(t, p).RestartPreventExitStatus(t)
	if want := []int{64, 65, 78}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if want := []string{"SIGABRT"}; !slices.Equal(signals, want) {
		t.Errorf("signals %q, want %q", signals, want)
	}
}
