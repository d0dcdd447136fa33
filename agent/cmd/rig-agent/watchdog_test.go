package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// notifySocket listens on a unixgram socket set as $NOTIFY_SOCKET.
func notifySocket(t *testing.T) *net.UnixConn {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", sock)
	return conn
}

// recvWithin returns the next message, or "" when none came within d.
func recvWithin(t *testing.T, conn *net.UnixConn, d time.Duration) string {
	t.Helper()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(d)))
	buf := make([]byte, 256)
	n, err := conn.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ""
	}
	require.NoError(t, err)
	return string(buf[:n])
}

// The watchdog is fed (WATCHDOG=1 over a real notification socket) while
// no loop is stalled, not while one is, and again once it beats.
func TestWatchdogStarvedWhileStalled(t *testing.T) {
	conn := notifySocket(t)
	var stalled atomic.Bool
	stalledFn := func() []liveness.Loop {
		if stalled.Load() {
			return []liveness.Loop{{Name: "windowing", LastBeat: time.Now().Add(-3 * time.Minute), Stalled: true}}
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		feedWatchdog(ctx, 10*time.Millisecond, stalledFn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	defer func() { cancel(); <-done }()

	assert.Equal(t, "WATCHDOG=1", recvWithin(t, conn, 30*time.Second))
	assert.Equal(t, "WATCHDOG=1", recvWithin(t, conn, 30*time.Second))

	stalled.Store(true)
	// What was sent before the stall was seen drains; then silence, for
	// many feeding intervals (a fed watchdog sends every 10 ms).
	silent := false
	for range 1000 {
		if recvWithin(t, conn, 500*time.Millisecond) == "" {
			silent = true
			break
		}
	}
	require.True(t, silent, "WATCHDOG=1 kept coming while a loop was stalled")
	assert.Empty(t, recvWithin(t, conn, time.Second), "fed while stalled")

	stalled.Store(false)
	assert.Equal(t, "WATCHDOG=1", recvWithin(t, conn, 30*time.Second), "fed again once the loop beats")
}

// $WATCHDOG_USEC (a quarter of it, at most 10 s) and $WATCHDOG_PID, as
// sd_watchdog_enabled.
func TestWatchdogEvery(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "")
	d, err := watchdogEvery()
	require.NoError(t, err)
	assert.Zero(t, d)

	// WatchdogSec=5min: every 10 s, not every 150 s, so that one feed
	// skipped for a stall seen once does not race systemd's deadline.
	t.Setenv("WATCHDOG_USEC", "300000000")
	t.Setenv("WATCHDOG_PID", "")
	d, err = watchdogEvery()
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, d)

	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	d, err = watchdogEvery()
	require.NoError(t, err)
	assert.Equal(t, 10*time.Second, d)

	t.Setenv("WATCHDOG_USEC", "20000000") // WatchdogSec=20s: a quarter
	d, err = watchdogEvery()
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, d)

	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	d, err = watchdogEvery()
	require.NoError(t, err)
	assert.Zero(t, d, "meant for another process")

	t.Setenv("WATCHDOG_PID", "")
	t.Setenv("WATCHDOG_USEC", "soon")
	_, err = watchdogEvery()
	require.ErrorContains(t, err, `WATCHDOG_USEC="soon"`)
}

// The running agent feeds the watchdog after READY=1 when systemd asks
// for it, and the unit asks for it with a limit well above the default
// agent.stall_after, killed with systemd's SIGABRT, on which Go prints
// every goroutine and exits 2, which the unit restarts after.
func TestAgentFeedsWatchdog(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	sec := u.Values("WatchdogSec")
	require.Len(t, sec, 1)
	d, err := time.ParseDuration(sec[0])
	if err != nil {
		d, err = time.ParseDuration(sec[0][:len(sec[0])-len("in")]) // "5min"
	}
	require.NoError(t, err, "WatchdogSec=%s", sec[0])
	assert.GreaterOrEqual(t, d, 2*liveness.DefaultStallAfter, "WatchdogSec well above agent.stall_after's default")
	// systemd's default WatchdogSignal, SIGABRT: the Go runtime prints
	// every goroutine's stack (where the agent hung) to the journal and
	// exits 2, which the unit restarts (TestUnitRestartsOnGoRuntimeExits);
	// SIGKILL would lose the dump.
	assert.Empty(t, u.Values("WatchdogSignal"), "the watchdog's SIGABRT makes Go print where the agent hung")

	needORT(t)
	conn := notifySocket(t)
	t.Setenv("WATCHDOG_USEC", "200000") // every 50 ms
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	cfg := writeConfig(t, t.TempDir(), "127.0.0.1:0")
	a := startInProcess(t, []string{"--config", cfg}, 30*time.Second)
	assert.Equal(t, "READY=1", recvWithin(t, conn, 30*time.Second))
	assert.Equal(t, "WATCHDOG=1", recvWithin(t, conn, 30*time.Second))
	c, logs := a.stop(t, 30*time.Second)
	assert.Equal(t, 0, c, logs)
	for {
		m := recvWithin(t, conn, 30*time.Second)
		if m != "WATCHDOG=1" {
			assert.Equal(t, "STOPPING=1", m)
			break
		}
	}
}
