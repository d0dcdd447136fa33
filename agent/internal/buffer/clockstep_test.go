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

// TestMaxAgeAfterClockStep: a forward step of the wall clock larger than
// MaxAge (NTP after a boot at a stale time) does not age the unforwarded
// readings committed before it by the step and remove them (review r7
// F4, related). Aged by the time that really passed, they go once that
// passes MaxAge, counted as before; readings committed after the step
// are aged by the wall clock.
func TestMaxAgeAfterClockStep(t *testing.T) {
	ctx := context.Background()
	clk := agenttest.NewClock(t0)
	var mono atomic.Int64 // the monotonic time since open
	var drops []Drop
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		MaxAge: time.Hour, Now: clk.Now, Consumers: []string{"forward"},
		MaintenanceInterval: time.Hour,
		OnDrop:              func(d Drop) { drops = append(drops, d) },
		elapsed:             func() time.Duration { return time.Duration(mono.Load()) },
	})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))

	// The clock steps 48 h forward while a minute passes.
	clk.Add(48*time.Hour + time.Minute)
	mono.Add(int64(time.Minute))
	require.NoError(t, b.Append(ctx, testReadings(10, 10)))
	st := b.Stats()
	assert.Equal(t, uint64(20), st.Records, "unforwarded readings removed by the clock's step")
	assert.Zero(t, st.Dropped.UnreleasedByAge)
	assert.Empty(t, drops)

	// Two hours really pass: the readings before the step are 2 h 1 min
	// old, those after it 2 h; all go, counted.
	clk.Add(2 * time.Hour)
	mono.Add(int64(2 * time.Hour))
	require.NoError(t, b.Append(ctx, testReadings(20, 1)))
	st = b.Stats()
	assert.Equal(t, uint64(1), st.Records)
	assert.Equal(t, uint64(20), st.Dropped.UnreleasedByAge)
	require.NoError(t, b.Close())
	n := uint64(0)
	for _, d := range drops {
		assert.Equal(t, ReasonMaxAge, d.Reason)
		assert.False(t, d.Released)
		n += d.Readings
	}
	assert.Equal(t, uint64(20), n)
}

// TestMaxAgeAfterClockStepKeepsLaterAging: readings committed after a
// forward step are aged by the wall clock, not less the step.
func TestMaxAgeAfterClockStepKeepsLaterAging(t *testing.T) {
	ctx := context.Background()
	clk := agenttest.NewClock(t0)
	var mono atomic.Int64
	b := openTest(t, filepath.Join(t.TempDir(), "buf.db"), Options{
		MaxAge: time.Hour, Now: clk.Now, Consumers: []string{"forward"},
		MaintenanceInterval: time.Hour,
		elapsed:             func() time.Duration { return time.Duration(mono.Load()) },
	})
	require.NoError(t, b.Append(ctx, testReadings(0, 10)))
	clk.Add(48 * time.Hour)
	require.NoError(t, b.Append(ctx, testReadings(10, 10)))
	clk.Add(90 * time.Minute)
	mono.Add(int64(90 * time.Minute))
	require.NoError(t, b.Append(ctx, testReadings(20, 1)))
	st := b.Stats()
	assert.Equal(t, uint64(1), st.Records, "the readings before the step are 90 min old, those after it too")
	assert.Equal(t, uint64(20), st.Dropped.UnreleasedByAge)
}
