package unitfiletest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// CrashKinds are the ways Crash crashes, each with the line Go's runtime
// writes to stderr for it: an unrecovered panic in the start or in a
// goroutine, a fatal error of the runtime, and SIGABRT with the runtime's
// default handling (systemd's default WatchdogSignal, or an operator's
// kill -ABRT).
var CrashKinds = []struct{ Kind, Log string }{
	{"panic", "panic: a bug in the start"},
	{"goroutine-panic", "panic: a bug in a part"},
	{"fatal-error", "fatal error: sync: unlock of unlocked mutex"},
	{"sigabrt", "SIGABRT: abort"},
}

// Crash crashes the process the way kind (one of CrashKinds) names, for
// a binary's start that a test replaces. It returns an error at once for
// a kind not in CrashKinds, or for sigabrt where the signal cannot be
// sent (not on Unix). A crash in a goroutine or by a signal comes while
// Crash waits, so it returns an error too if none came before ctx ended
// or a minute passed.
func Crash(ctx context.Context, kind string) error {
	switch kind {
	case "panic":
		panic("a bug in the start")
	case "goroutine-panic":
		go func() { panic("a bug in a part") }()
	case "fatal-error":
		var mu sync.Mutex
		mu.Unlock() // fatal error: sync: unlock of unlocked mutex
	case "sigabrt":
		if err := sigabrt(); err != nil {
			return fmt.Errorf("unitfiletest: sigabrt: %w", err)
		}
	default:
		return fmt.Errorf("unitfiletest: no crash %q", kind)
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
	return fmt.Errorf("unitfiletest: %s did not crash", kind)
}

// CheckCrashesRestarted runs, in a subtest per kind of CrashKinds, the
// test binary (os.Args[0]) with args and env (os.Environ() if nil), and
// envVar set to the kind: the binary's TestMain or init is to see envVar
// and start as the binary whose start calls Crash. The unit sets no
// GOTRACEBACK (the runtime's default; crash would die by the signal
// instead of exiting), so the test drops it from env. Each crash must
// exit 2 (one of GoRuntimeExitStatuses) with the runtime's line for it on
// stderr, and prevented (the unit's RestartPreventExitStatus statuses)
// must not list the status, so that the unit restarts the binary after
// each crash. what names the binary in the failure messages.
func CheckCrashesRestarted(t *testing.T, what string, args, env []string, envVar string, prevented []int) {
	t.Helper()
	if env == nil {
		env = os.Environ()
	}
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, "GOTRACEBACK=") })
	for _, c := range CrashKinds {
		t.Run(c.Kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], args...)
			cmd.Env = append(slices.Clone(env), envVar+"="+c.Kind)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("%s: %v, not an exit status\n%s", what, err, errb.String())
			}
			code := ee.ExitCode()
			if !strings.Contains(errb.String(), c.Log) {
				t.Errorf("%s: stderr has no %q:\n%s", what, c.Log, errb.String())
			}
			if code != 2 {
				t.Errorf("%s exited %d, not 2, the Go runtime's status for a crash:\n%s", what, code, errb.String())
			}
			if !slices.Contains(GoRuntimeExitStatuses, code) {
				t.Errorf("%s exited %d, none of GoRuntimeExitStatuses %v", what, code, GoRuntimeExitStatuses)
			}
			if slices.Contains(prevented, code) {
				t.Errorf("the unit would not restart the crashed %s (exit %d)", what, code)
			}
		})
	}
}

// CheckRestartPolicy checks the unit's RestartPreventExitStatus= lines
// for a binary whose codes for what a restart does not mend are want:
// they list exactly want, no signal (a signal kills a hung or crashed
// binary: it is restarted), none of GoRuntimeExitStatuses and none of
// restarted (the codes of a failure the unit restarts, such as 0 and
// 1); and the document at docPath names the list as
// `RestartPreventExitStatus=64 65 78`. It returns the listed statuses.
func (u File) CheckRestartPolicy(t testing.TB, want, restarted []int, docPath string) []int {
	t.Helper()
	prevented, signals := u.RestartPreventExitStatus(t)
	if len(signals) != 0 {
		t.Errorf("RestartPreventExitStatus lists signals %q: a signal kills a hung or crashed binary; it is restarted", signals)
	}
	if !slices.Equal(prevented, want) {
		t.Errorf("RestartPreventExitStatus lists %v, want exactly the binary's codes for what a restart does not mend %v", prevented, want)
	}
	for _, code := range prevented {
		if slices.Contains(GoRuntimeExitStatuses, code) {
			t.Errorf("RestartPreventExitStatus=%d is a status of Go's runtime", code)
		}
		if slices.Contains(restarted, code) {
			t.Errorf("RestartPreventExitStatus=%d is a code the unit must restart on", code)
		}
	}
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("unitfiletest: %v", err)
	}
	name := "`RestartPreventExitStatus=" + strings.Trim(fmt.Sprint(prevented), "[]") + "`"
	if !strings.Contains(string(doc), name) {
		t.Errorf("%s does not name %s", docPath, name)
	}
	return prevented
}
