package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
	"github.com/hydrognn/hydrognn/shared/reading"
)

// The agent's stop must end before systemd's TimeoutStopSec, with room to
// spare, or systemd kills it mid-stop (SIGKILL: what the broker holds is
// lost, the buffer closes uncleanly).
func TestStopTimeoutBelowUnitTimeout(t *testing.T) {
	f, err := os.Open("../../../deploy/systemd/rig-agent.service")
	require.NoError(t, err)
	defer f.Close()
	var unit time.Duration
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "TimeoutStopSec="); ok {
			unit, err = time.ParseDuration(v)
			require.NoError(t, err, "TimeoutStopSec=%s", v)
		}
	}
	require.NoError(t, sc.Err())
	require.Positive(t, unit, "the unit sets TimeoutStopSec")
	assert.LessOrEqual(t, stopTimeout+10*time.Second, unit,
		"stopTimeout %s leaves at least 10 s before the unit's TimeoutStopSec %s", stopTimeout, unit)
}

// The start timeout must not bound the reading buffer's whole-file check
// at open: a large buffer on slow flash takes longer than it, the agent
// would exit 1 and be restarted into the same check, forever. With a
// start timeout that has passed before the check begins, the agent still
// starts, and a signal still stops it.
func TestStartTimeoutDoesNotBoundBufferCheck(t *testing.T) {
	if os.Getenv("ONNXRUNTIME_LIB") == "" {
		t.Skip("ONNXRUNTIME_LIB is not set: run `make test`, or `eval \"$(make -s env)\"` from the repository root")
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "127.0.0.1:0")
	// A buffer of more than 1024 blocks: the check looks at ctx every
	// 1024 blocks.
	b, err := buffer.Open(context.Background(), filepath.Join(dir, "data", "buffer.db"), buffer.Options{BlockReadings: 1})
	require.NoError(t, err)
	rs := make([]reading.Reading, 1500)
	now := time.Now().Add(-time.Hour)
	for i := range rs {
		rs[i] = reading.Reading{Sensor: "PS1", Time: now.Add(time.Duration(i) * 10 * time.Millisecond), Value: 100, Seq: uint64(i + 1)}
	}
	require.NoError(t, b.Append(context.Background(), rs))
	require.NoError(t, b.Close())

	old := startTimeout
	startTimeout = time.Nanosecond
	t.Cleanup(func() { startTimeout = old })

	logs := &syncBuffer{ch: make(chan []byte, 1024)}
	code := make(chan int, 1)
	go func() { code <- run([]string{"--config", cfg}, &bytes.Buffer{}, logs) }()
	apiRe := regexp.MustCompile(`msg="http api listening" part=api addr=(\S+)`)
	var addr string
	deadline := time.After(60 * time.Second)
	for addr == "" {
		select {
		case p := <-logs.ch:
			logs.b.Write(p)
			if m := apiRe.FindSubmatch(logs.b.Bytes()); m != nil {
				addr = string(m[1])
			}
		case c := <-code:
			t.Fatalf("run returned %d before serving: %s", c, logs.b.String())
		case <-deadline:
			t.Fatalf("no API address logged: %s", logs.b.String())
		}
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "agent ready")
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	for {
		select {
		case p := <-logs.ch:
			logs.b.Write(p)
		case c := <-code:
			assert.Equal(t, 0, c, logs.b.String())
			return
		case <-time.After(60 * time.Second):
			t.Fatal("run did not return after SIGTERM")
		}
	}
}
