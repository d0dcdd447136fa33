package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"

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

// crashingStart is a service.Start that crashes the Go runtime's way
// (unitfiletest.Crash: a panic in the start or in a goroutine of a part,
// a fatal error of the runtime, or SIGABRT).
func crashingStart(kind string) func(context.Context, *config.Config, service.Options) (*service.Agent, error) {
	return func(ctx context.Context, _ *config.Config, _ service.Options) (*service.Agent, error) {
		return nil, unitfiletest.Crash(ctx, kind)
	}
}

// A crashed agent is restarted: the Go runtime exits 2 after a panic, a
// fatal error or SIGABRT, and the unit's RestartPreventExitStatus lists
// only the agent's own codes for what a restart does not mend (64, 65,
// 78), never a status of the runtime. Before, the agent's config error
// was 2 and the unit listed 2: a panicking agent stayed down until
// someone noticed. docs/agent.md names the unit's list.
func TestUnitRestartsOnGoRuntimeExits(t *testing.T) {
	prevented := unitfiletest.Read(t, agentUnit).CheckRestartPolicy(t, restartPrevented, []int{exitOK, exitFailure}, "../../../docs/agent.md")
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	unitfiletest.CheckCrashesRestarted(t, "agent", []string{"--config", cfg}, nil, crashEnv, prevented)
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
