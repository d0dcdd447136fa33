package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// crashEnv makes the test binary run as rig-cloud whose serve and work
// crash the Go runtime's way (crash): its value is the kind of crash.
const crashEnv = "HYDROGNN_TEST_CRASHING_RIG_CLOUD"

func init() {
	if kind := os.Getenv(crashEnv); kind != "" {
		serve = func(ctx context.Context, _ *config.Config, _ *slog.Logger, _ func(net.Addr)) error {
			return crash(ctx, kind)
		}
		work = func(ctx context.Context, _ *config.Config, _ *slog.Logger, _ string) error {
			return crash(ctx, kind)
		}
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
}

// crash crashes: an unrecovered panic in the start or in a goroutine, a
// fatal error of the runtime, or SIGABRT (the runtime's default
// handling: an operator's kill -ABRT, or a watchdog's signal).
func crash(ctx context.Context, kind string) error {
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
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
	}
	return errors.New("did not crash")
}

// Each instance of the unit (serve, worker) that crashes exits 2, the Go
// runtime's status, which the unit's RestartPreventExitStatus does not
// list: it is restarted (TestUnitRestartsOnGoRuntimeExits).
func TestCrashedInstanceIsRestarted(t *testing.T) {
	u := unitfiletest.Read(t, cloudUnit)
	prevented, _ := u.RestartPreventExitStatus(t)
	cfg := filepath.Join(t.TempDir(), "rig-cloud.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log:\n  format: text\n"), 0o600))
	// The unit sets no GOTRACEBACK (crash would die by the signal
	// instead of exiting), and the config is the file's and this URL.
	env := slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "GOTRACEBACK=") || strings.HasPrefix(e, "RIG_CLOUD_")
	})
	env = append(env, "RIG_CLOUD_DATABASE_URL=postgres://u@127.0.0.1:1/nowhere")
	for _, instance := range []string{"serve", "worker"} {
		args := execArgs(t, u, instance)
		args[slices.Index(args, "--config")+1] = cfg
		for _, tc := range []struct{ kind, log string }{
			{"panic", "panic: a bug in the start"},
			{"goroutine-panic", "panic: a bug in a part"},
			{"fatal-error", "fatal error: sync: unlock of unlocked mutex"},
			{"sigabrt", "SIGABRT: abort"},
		} {
			t.Run(instance+"/"+tc.kind, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, os.Args[0], args...)
				cmd.Env = append(slices.Clone(env), crashEnv+"="+tc.kind)
				var errb bytes.Buffer
				cmd.Stderr = &errb
				err := cmd.Run()
				var ee *exec.ExitError
				require.True(t, errors.As(err, &ee), "%v\n%s", err, errb.String())
				code := ee.ExitCode()
				assert.Contains(t, errb.String(), tc.log)
				assert.Equal(t, 2, code, "the Go runtime's status for a crash; %s", errb.String())
				assert.Contains(t, unitfiletest.GoRuntimeExitStatuses, code)
				assert.NotContains(t, prevented, code, "the unit would not restart the crashed rig-cloud %s (exit %d)", instance, code)
			})
		}
	}
}
