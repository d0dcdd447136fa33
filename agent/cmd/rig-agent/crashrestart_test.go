package main

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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// crashEnv makes the test binary run as rig-agent whose start crashes
// the Go runtime's way (crashingStart): its value is the kind of crash.
const crashEnv = "HYDROGNN_TEST_CRASHING_RIG_AGENT"

func init() {
	if kind := os.Getenv(crashEnv); kind != "" {
		startAgent = crashingStart(kind)
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// crashingStart is a service.Start that crashes: an unrecovered panic in
// the start or in a goroutine of a part, a fatal error of the runtime,
// or SIGABRT (the runtime's default handling: systemd's default
// WatchdogSignal, or an operator's kill -ABRT).
func crashingStart(kind string) func(context.Context, *config.Config, service.Options) (*service.Agent, error) {
	return func(ctx context.Context, _ *config.Config, _ service.Options) (*service.Agent, error) {
		switch kind {
		case "panic":
			panic("a bug in the start")
		case "goroutine-panic":
			go func() { panic("a bug in a part") }()
		case "fatal-error":
			var mu sync.Mutex
			mu.Unlock() // fatal error: sync: unlock of unlocked mutex
		case "sigabrt":
			_ = syscall.Kill(os.Getpid(), syscall.SIGABRT)
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

// A crashed agent is restarted: the Go runtime exits 2 after a panic, a
// fatal error or SIGABRT, and the unit's RestartPreventExitStatus lists
// only the agent's own codes for what a restart does not mend (64, 65,
// 78), never a status of the runtime. Before, the agent's config error
// was 2 and the unit listed 2: a panicking agent stayed down until
// someone noticed. docs/agent.md names the unit's list.
func TestUnitRestartsOnGoRuntimeExits(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	prevented, signals := u.RestartPreventExitStatus(t)
	assert.Empty(t, signals, "a signal kills a hung or crashed agent; it is restarted")
	assert.Equal(t, restartPrevented, prevented, "RestartPreventExitStatus lists exactly the agent's codes for what a restart does not mend")
	for _, code := range prevented {
		assert.NotContains(t, unitfiletest.GoRuntimeExitStatuses, code, "RestartPreventExitStatus=%d is a status of Go's runtime", code)
	}
	for _, code := range []int{exitOK, exitFailure} {
		assert.NotContains(t, prevented, code)
	}
	doc, err := os.ReadFile("../../../docs/agent.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "`RestartPreventExitStatus="+strings.Trim(fmt.Sprint(prevented), "[]")+"`")

	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	for _, tc := range []struct{ kind, log string }{
		{"panic", "panic: a bug in the start"},
		{"goroutine-panic", "panic: a bug in a part"},
		{"fatal-error", "fatal error: sync: unlock of unlocked mutex"},
		{"sigabrt", "SIGABRT: abort"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "--config", cfg)
			// The unit sets no GOTRACEBACK: the runtime's default
			// (crash would die by the signal instead of exiting).
			cmd.Env = append(slices.DeleteFunc(os.Environ(), func(e string) bool {
				return strings.HasPrefix(e, "GOTRACEBACK=")
			}), crashEnv+"="+tc.kind)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			err := cmd.Run()
			var ee *exec.ExitError
			require.True(t, errors.As(err, &ee), "%v\n%s", err, errb.String())
			code := ee.ExitCode()
			assert.Contains(t, errb.String(), tc.log)
			assert.Equal(t, 2, code, "the Go runtime's status for a crash; %s", errb.String())
			assert.Contains(t, unitfiletest.GoRuntimeExitStatuses, code)
			assert.NotContains(t, prevented, code, "the unit would not restart the crashed agent (exit %d)", code)
		})
	}
}

// A bad command line exits 64 (EX_USAGE), not the flag package's 2 (the
// status of a Go panic, which the unit restarts); --help exits 0.
func TestCommandLineExitCodes(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--no-such-flag"}, exitUsage},
		{[]string{}, exitUsage},
		{[]string{"--config", cfg, "extra"}, exitUsage},
		{[]string{"-h"}, exitOK},
		{[]string{"enroll", "--no-such-flag"}, exitUsage},
		{[]string{"enroll", "-h"}, exitOK},
		{[]string{"--config", cfg + ".missing", "--check"}, exitConfig},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, tc.code, run(tc.args, &out, &errb), "%q: %s", tc.args, errb.String())
	}
}
