package buffer

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/agenttest"
)

// TestMaxAgeAfterClockStepSurvivesRestart: the forward step of the wall
// clock that TestMaxAgeAfterClockStep guards against is persisted, so a
// restart with the clock still stepped does not age the unforwarded
// readings committed before the step by it and remove them. They go,
// counted, once MaxAge really passes.
func TestMaxAgeAfterClockStepSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	clk := agenttest.NewClock(t0)
	open := func(mono *atomic.Int64) *Buffer {
		return openTest(t, path, Options{
			MaxAge: time.Hour, Now: clk.Now, Consumers: []string{"forward"},
			elapsed: func() time.Duration { return time.Duration(mono.Load()) },
		})
	}
	var mono1 atomic.Int64
	b := open(&mono1)
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	clk.Add(48*time.Hour + time.Minute)
	mono1.Add(int64(time.Minute))
	require.NoError(t, b.Append(ctx, testReadings(10, 10)))
	require.Equal(t, uint64(20), b.Stats().Records)
	require.NoError(t, b.Close())

	// Restart a minute later, the clock still stepped: the new process's
	// monotonic clock saw no step.
	clk.Add(time.Minute)
	var mono2 atomic.Int64
	b = open(&mono2)
	require.NoError(t, b.Append(ctx, testReadings(20, 1)))
	st := b.Stats()
	assert.Equal(t, uint64(21), st.Records, "unforwarded readings from before the step removed after a restart")
	assert.Zero(t, st.Dropped.UnreleasedByAge)

	// Two hours really pass: all but the newest go, counted.
	clk.Add(2 * time.Hour)
	mono2.Add(int64(2 * time.Hour))
	require.NoError(t, b.Append(ctx, testReadings(21, 1)))
	st = b.Stats()
	assert.Equal(t, uint64(1), st.Records)
	assert.Equal(t, uint64(21), st.Dropped.UnreleasedByAge)
}

// TestClockStepSeenByMaintenancePersists: a step seen by the maintenance
// pass, with no append after it, is persisted before a restart too.
func TestClockStepSeenByMaintenancePersists(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "buf.db")
	clk := agenttest.NewClock(t0)
	var mono atomic.Int64
	o := Options{
		MaxAge: time.Hour, Now: clk.Now, Consumers: []string{"forward"},
		MaintenanceInterval: 10 * time.Millisecond,
		elapsed:             func() time.Duration { return time.Duration(mono.Load()) },
	}
	b := openTest(t, path, o)
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	commits := b.Stats().Commits
	clk.Add(48 * time.Hour)
	require.Eventually(t, func() bool { return b.Stats().Commits > commits }, 5*time.Second, 10*time.Millisecond,
		"maintenance did not commit the step it saw")
	require.NoError(t, b.Close())

	var mono2 atomic.Int64
	o.elapsed = func() time.Duration { return time.Duration(mono2.Load()) }
	o.MaintenanceInterval = time.Hour
	b = openTest(t, path, o)
	require.NoError(t, b.Append(ctx, testReadings(10, 1)))
	assert.Equal(t, uint64(11), b.Stats().Records, "a step seen only by maintenance was lost by the restart")
}
