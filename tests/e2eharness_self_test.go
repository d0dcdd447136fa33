package tests

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fatalRecorder stands in for a *testing.T in procGuard's methods: it
// keeps the first Fatalf's message and ends the goroutine as Fatalf does.
type fatalRecorder struct{ msg string }

func (*fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// recordFatal runs fn and returns what it passed to the recorder's Fatalf
// ("": it returned without).
func recordFatal(fn func(*fatalRecorder)) (msg string) {
	f := &fatalRecorder{}
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
		msg = f.msg
	}()
	fn(f)
	return ""
}

// TestProcGuardFailsAtOnceOnAnExit: a process that exits on its own while
// the end-to-end test waits fails the wait at once (not at its timeout),
// with its exit status and its log's last lines; one the test killed
// does not.
func TestProcGuardFailsAtOnceOnAnExit(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	var g procGuard
	killed := g.add(startProc(t, "sleeper", filepath.Join(dir, "sleeper.log"), nil, "sh", "-c", "sleep 60"))
	killed.kill(t)
	quitter := g.add(startProc(t, "quitter", filepath.Join(dir, "quitter.log"), nil, "sh", "-c",
		`i=0; while [ $i -lt 100 ]; do echo "line $i"; i=$((i+1)); done; echo "a part of the agent failed; stopping"; exit 3`))
	<-quitter.done
	began := time.Now()
	msg := recordFatal(func(f *fatalRecorder) {
		g.waitFor(context.Background(), f, time.Minute, "never", func() bool { return false }, nil)
	})
	require.NotEmpty(t, msg, "the wait goes on after the process exited")
	assert.Less(t, time.Since(began), 5*time.Second, "the wait fails at once")
	assert.Contains(t, msg, "quitter exited on its own")
	assert.Contains(t, msg, "exit status 3")
	assert.Contains(t, msg, "a part of the agent failed; stopping")
	assert.Contains(t, msg, "\nline 21\n", "the last 80 lines")
	assert.NotContains(t, msg, "line 20\n")
	assert.NotContains(t, msg, "sleeper")
	// Reported once: the cleanup does not fail the test for it again.
	assert.Empty(t, recordFatal(func(f *fatalRecorder) { g.check(f) }))
}

// TestProcGuardTimeoutExplains: a wait that times out says explain's text.
func TestProcGuardTimeoutExplains(t *testing.T) {
	var g procGuard
	msg := recordFatal(func(f *fatalRecorder) {
		g.waitFor(context.Background(), f, 10*time.Millisecond, "the rollout completed", func() bool { return false },
			func() string { return "agent-13 offered, last check-in 40s ago" })
	})
	assert.Contains(t, msg, "the rollout completed: not within 10ms")
	assert.Contains(t, msg, "agent-13 offered, last check-in 40s ago")
}
