package main

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
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
	needORT(t)
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

	a := startInProcess(t, []string{"--config", cfg}, 60*time.Second)
	a.waitReady(t, 30*time.Second)
	c, logs := a.stop(t, 60*time.Second)
	assert.Equal(t, 0, c, logs)
}
