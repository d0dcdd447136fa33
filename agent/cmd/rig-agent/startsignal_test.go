package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/service"
	"github.com/hydrognn/hydrognn/shared/childproc"
)

// blockingStartEnv makes the child (TestMain) start with blockingStart.
const blockingStartEnv = "HYDROGNN_TEST_BLOCKING_START"

// blockingStart is a service.Start that logs "start waiting", waits for
// its ctx (as the buffer's long check does) and then, with hang, logs
// "start cleaning up" and never returns (a slow clean-up); without, it
// returns the ctx's error as Start does.
func blockingStart(hang bool) func(context.Context, *config.Config, service.Options) (*service.Agent, error) {
	return func(ctx context.Context, _ *config.Config, o service.Options) (*service.Agent, error) {
		o.Logger.Info("start waiting")
		<-ctx.Done()
		if hang {
			o.Logger.Info("start cleaning up")
			select {}
		}
		return nil, fmt.Errorf("open reading buffer (buffer.path): %w", ctx.Err())
	}
}

// A signal during a long start is a stop, not a failure: exit 0 and
// "stopped during start" at Info, not "could not start" (review r3
// finding 10).
func TestSignalDuringStartExitsZero(t *testing.T) {
	old := startAgent
	startAgent = blockingStart(false)
	t.Cleanup(func() { startAgent = old })

	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	a := &inProcess{logs: &syncBuffer{ch: make(chan []byte, 1024)}, code: make(chan int, 1)}
	go func() { a.code <- run([]string{"--config", cfg}, &strings.Builder{}, a.logs) }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(a.logs.b.String(), "start waiting") {
		select {
		case p := <-a.logs.ch:
			a.logs.b.Write(p)
		case c := <-a.code:
			t.Fatalf("run returned %d before its start waited", c)
		case <-deadline:
			t.Fatal("the start did not begin")
		}
	}
	code, logs := a.stop(t, 30*time.Second)
	assert.Equal(t, 0, code, logs)
	assert.Contains(t, logs, "rig-agent stopped during start")
	assert.NotContains(t, logs, "could not start")
}

// A second signal while a start stopped by the first one cleans up
// kills the process, as during the stop; before, the signal handler
// still took it and the process went on.
func TestSecondSignalDuringStartKills(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0")
	logPath := filepath.Join(dir, "log")
	logf, err := os.Create(logPath)
	require.NoError(t, err)
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "--config", cfg)
	cmd.Env = append(os.Environ(), childEnv+"=1", blockingStartEnv+"=1")
	childproc.DieWithParent(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	waitLog := func(s string) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); !strings.Contains(readLog(logPath), s); time.Sleep(20 * time.Millisecond) {
			require.True(t, time.Now().Before(end), "%q not logged:\n%s", s, readLog(logPath))
		}
	}
	waitLog("start waiting")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	waitLog("start cleaning up")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v", err)
		ws := ee.Sys().(syscall.WaitStatus)
		assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGTERM, "exit %v", ws)
	case <-time.After(10 * time.Second):
		t.Fatalf("the second SIGTERM did not end the process:\n%s", readLog(logPath))
	}
}
