package unitfiletest

import (
	"strconv"
	"strings"
	"testing"
)

// GoRuntimeExitStatuses are the exit statuses a Go program gets without
// choosing them: 2 for an unrecovered panic, a fatal error of the runtime
// (a deadlock, a stack overflow, a concurrent map write) and the
// runtime's default handling of SIGABRT, SIGQUIT and the like; 4 and 5
// for its last-resort crashes (runtime/panic.go). A unit must restart
// after each of them, so its RestartPreventExitStatus lists none, and a
// command's deliberate exit codes avoid them.
var GoRuntimeExitStatuses = []int{2, 4, 5}

// RestartPreventExitStatus returns the exit statuses and the signal
// names of the unit's RestartPreventExitStatus= lines, combined as
// systemd does: each line adds its space-separated values, an empty one
// clears what came before. The test fails on a value that is neither a
// status (0 to 255) nor a signal name (SIG...).
func (u File) RestartPreventExitStatus(t testing.TB) (statuses []int, signals []string) {
	t.Helper()
	for _, v := range u.Values("RestartPreventExitStatus") {
		if strings.TrimSpace(v) == "" {
			statuses, signals = nil, nil
			continue
		}
		for _, f := range strings.Fields(v) {
			if strings.HasPrefix(f, "SIG") {
				signals = append(signals, f)
				continue
			}
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 255 {
				t.Fatalf("unitfiletest: RestartPreventExitStatus=%s: %q is neither an exit status nor a signal", v, f)
			}
			statuses = append(statuses, n)
		}
	}
	return statuses, signals
}
