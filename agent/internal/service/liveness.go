package service

import (
	"fmt"

	"github.com/hydrognn/hydrognn/agent/internal/liveness"
)

// Names of the loops in the heartbeat registry (/health/live, the
// rig_agent_loop_* metrics).
const (
	LoopIngest    = "ingest"
	LoopWindowing = "windowing"
	LoopPublisher = "publisher"
	LoopForwarder = "forwarder"
	LoopUpdate    = "update"
)

// openLiveness makes the heartbeat registry with agent.stall_after
// (zero, from a Config not loaded by config.Load: the default).
func (a *Agent) openLiveness() error {
	limit := a.cfg.Agent.StallAfter
	if limit == 0 {
		limit = liveness.DefaultStallAfter
	}
	r, err := liveness.New(limit, a.opts.livenessNow)
	if err != nil {
		return fmt.Errorf("agent.stall_after: %w", err)
	}
	a.live = r
	return nil
}

// beater registers loop name; it is watched from now on.
func (a *Agent) beater(name string) *liveness.Beater {
	b, err := a.live.Register(name)
	if err != nil {
		a.log.Error("loop not watched for stalls", "loop", name, "err", err)
		return nil
	}
	return b
}

// goRunBeating is goRun for a loop that beats b: its watch ends when it
// returns (a stop, or a model swap's old runner), so a loop that is not
// running counts as no stall.
func (a *Agent) goRunBeating(name string, b *liveness.Beater, fn func() error) chan struct{} {
	return a.goRun(name, func() error {
		defer b.Done()
		return fn()
	})
}

// Liveness is the heartbeat registry of the agent's loops.
func (a *Agent) Liveness() *liveness.Registry { return a.live }

// Stalled returns the loops that have not beaten within agent.stall_after
// (none: nil): rig-agent stops feeding the systemd watchdog while there
// is one.
func (a *Agent) Stalled() []liveness.Loop { return a.live.Stalled() }
