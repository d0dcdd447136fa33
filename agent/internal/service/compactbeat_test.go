package service

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
)

// A compaction of the reading buffer holds the ingest's appends for as
// long as it copies (minutes for a large file on slow eMMC): its progress
// beats the ingest's heartbeat, so that the ingest is not reported stalled
// (and the agent killed by the systemd watchdog mid-compaction) while the
// copy moves. Here the loops' own beats are an hour apart, so only the
// compaction can beat the ingest after the registry's clock jumps.
func TestCompactionBeatsIngest(t *testing.T) {
	old := liveness.Interval
	liveness.Interval = time.Hour
	t.Cleanup(func() { liveness.Interval = old }) // after the agent stopped
	cfg, err := config.Load(writeConfigLateness(t, t.TempDir(), "agent-compact", "", "10m"))
	require.NoError(t, err)
	clock := newTestClock()
	a := startWithClock(t, cfg, clock, Options{})

	_, jumped := clock.Jump(cfg.Agent.StallAfter + time.Minute) // the copy took longer than stall_after
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, a.buf.Compact(ctx))
	for _, l := range a.Liveness().Loops() {
		if l.Name == LoopIngest {
			require.False(t, l.LastBeat.Before(jumped), "the ingest's last beat %s is from before the compaction", l.LastBeat)
			return
		}
	}
	t.Fatal("no ingest loop")
}
