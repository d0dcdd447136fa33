package main

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// crashEnv makes the test binary run as rig-cloud whose serve and work
// crash the Go runtime's way (unitfiletest.Crash): its value is the kind
// of crash.
const crashEnv = "HYDROGNN_TEST_CRASHING_RIG_CLOUD"

func init() {
	if kind := os.Getenv(crashEnv); kind != "" {
		serve = func(ctx context.Context, _ *config.Config, _ *slog.Logger, _ func(net.Addr)) error {
			return unitfiletest.Crash(ctx, kind)
		}
		work = func(ctx context.Context, _ *config.Config, _ *slog.Logger, _ string) error {
			return unitfiletest.Crash(ctx, kind)
		}
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
}

// Each instance of the unit (serve, worker) that crashes exits 2, the Go
// runtime's status, which the unit's RestartPreventExitStatus does not
// list: it is restarted (TestUnitRestartsOnGoRuntimeExits).
func TestCrashedInstanceIsRestarted(t *testing.T) {
	u := unitfiletest.Read(t, cloudUnit)
	prevented, _ := u.RestartPreventExitStatus(t)
	cfg := filepath.Join(t.TempDir(), "rig-cloud.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log:\n  format: text\n"), 0o600))
	// The config is the file's and this URL.
	env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "RIG_CLOUD_") })
	env = append(env, "RIG_CLOUD_DATABASE_URL=postgres://u@127.0.0.1:1/nowhere")
	for _, instance := range []string{"serve", "worker"} {
		args := execArgs(t, u, instance)
		args[slices.Index(args, "--config")+1] = cfg
		t.Run(instance, func(t *testing.T) {
			unitfiletest.CheckCrashesRestarted(t, "rig-cloud "+instance, args, env, crashEnv, prevented)
		})
	}
}
