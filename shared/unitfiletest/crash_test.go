package unitfiletest

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// crashEnv makes the test binary crash as CheckCrashesRestarted asks.
const crashEnv = "HYDROGNN_TEST_UNITFILETEST_CRASH"

func TestMain(m *testing.M) {
	if kind := os.Getenv(crashEnv); kind != "" {
		fmt.Fprintln(os.Stderr, Crash(context.Background(), kind))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestCheckCrashesRestarted: each of CrashKinds exits 2 with its line,
// which a unit that lists 64 and 65 restarts.
func TestCheckCrashesRestarted(t *testing.T) {
	CheckCrashesRestarted(t, "unitfiletest", nil, nil, crashEnv, []int{64, 65})
}

// recorder is a testing.TB that records what its checks report.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestCheckRestartPolicy: a unit that lists the binary's codes, named in
// its doc, passes; one that lists a signal, a runtime status, a code the
// unit must restart on, or other codes than the binary's, or whose doc
// names another list, fails for each.
func TestCheckRestartPolicy(t *testing.T) {
	dir := t.TempDir()
	unit := writeFile(t, dir, "x.service", "[Service]\nRestartPreventExitStatus=64 78\n")
	doc := writeFile(t, dir, "x.md", "lists `RestartPreventExitStatus=64 78`.\n")
	if got := Read(t, unit).CheckRestartPolicy(t, []int{64, 78}, []int{0, 1}, doc); fmt.Sprint(got) != "[64 78]" {
		t.Errorf("returned %v", got)
	}

	writeFile(t, dir, "x.service", "[Service]\nRestartPreventExitStatus=1 2 SIGABRT\n")
	r := &recorder{TB: t}
	Read(t, unit).CheckRestartPolicy(r, []int{64, 78}, []int{0, 1}, doc)
	// signals, not exactly want, 1 restarted, 2 the runtime's, the doc.
	if len(r.errs) != 5 {
		t.Errorf("%d failures, want 5: %q", len(r.errs), r.errs)
	}
}
