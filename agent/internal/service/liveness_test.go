package service

import (
	"context"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/agent/internal/api"
	"github.com/hydrognn/hydrognn/agent/internal/config"
	"github.com/hydrognn/hydrognn/agent/internal/liveness"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// testClock is a liveness registry's clock for a test: it stands still
// until Jump moves it.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

// Now is the clock's time (Options.livenessNow).
func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Jump moves the clock d ahead and returns its time before and after.
func (c *testClock) Jump(d time.Duration) (before, after time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before = c.now
	c.now = c.now.Add(d)
	return before, c.now
}

// startWithClock starts the agent of cfg with opts, its liveness
// registry reading clock, waits until it is ready, and stops it when the
// test ends.
func startWithClock(t *testing.T, cfg *config.Config, clock *testClock, opts Options) *Agent {
	t.Helper()
	opts.Version, opts.Logger, opts.livenessNow = "test", testLogger(t), clock.Now
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := Start(ctx, cfg, opts)
	require.NoError(t, err)
	t.Cleanup(func() { stopAgent(t, a) })
	waitFor(t, 15*time.Second, "agent ready", func() bool { return len(a.NotReady()) == 0 })
	return a
}

// The running agent's loops beat while idle (no reading arrives): after
// the registry's clock jumps past agent.stall_after, every loop beats
// again on its own, and /health/live answers 200. A loop that has not
// beaten since the jump is stalled meanwhile: /health/live answers 503.
func TestIdleLoopsKeepBeating(t *testing.T) {
	cfg, err := config.Load(writeConfigLateness(t, t.TempDir(), "agent-live", "", "10m"))
	require.NoError(t, err)
	clock := newTestClock()
	a := startWithClock(t, cfg, clock, Options{})

	names := map[string]bool{}
	for _, l := range a.Liveness().Loops() {
		names[l.Name] = true
	}
	assert.True(t, names[LoopIngest] && names[LoopWindowing], "loops %v", names)
	assert.Empty(t, a.Stalled())
	live := func() int {
		resp, err := http.Get("http://" + a.APIAddr() + "/health/live")
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, live())

	_, jumped := clock.Jump(cfg.Agent.StallAfter + time.Minute)
	// Until each loop beats once after the jump it counts as stalled;
	// idle loops beat every liveness.Interval.
	waitFor(t, 10*liveness.Interval+20*time.Second, "every loop beating after the jump", func() bool {
		for _, l := range a.Liveness().Loops() {
			if l.LastBeat.Before(jumped) {
				return false
			}
		}
		return true
	})
	assert.Empty(t, a.Stalled())
	assert.Equal(t, http.StatusOK, live())
}

// hangingForwarder is a cloud forwarder whose Enqueue, called by the
// windowing for each diagnosis, blocks until released (or the windowing
// stops): the windowing loop is hung in a sink. Its own Run beats.
type hangingForwarder struct {
	beat    *liveness.Beater
	entered chan struct{}
	once    sync.Once
	release chan struct{}
}

func (f *hangingForwarder) Enqueue(ctx context.Context, _ diag.Diagnosis) error {
	f.once.Do(func() { close(f.entered) })
	select {
	case <-f.release:
	case <-ctx.Done():
	}
	return nil
}

func (f *hangingForwarder) Run(ctx context.Context) error {
	t := time.NewTicker(liveness.Interval)
	defer t.Stop()
	for {
		f.beat.Beat()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// A windowing hung in a call that does not return (here a sink) stops
// beating: once agent.stall_after has passed, /health/live answers 503
// naming it and since when, rig_agent_loop_stalled{loop="windowing"} is 1
// and Stalled (what rig-agent feeds the systemd watchdog by) names it;
// the other loops go on beating. Released, it beats again: 200.
func TestHungWindowingIsStalled(t *testing.T) {
	needORT(t)
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "hung-1", "")
	appendConfig(t, cfgPath, cloudSection(t, dir, "http://127.0.0.1:9", "s3cret-token"))
	fwPath := filepath.Join(dir, "zema-testrig.yaml")
	cfg, err := config.Load(cfgPath)
	require.NoError(t, err)
	clock := newTestClock()
	fwd := &hangingForwarder{entered: make(chan struct{}), release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(fwd.release) }) }
	defer release()
	a := startWithClock(t, cfg, clock, Options{
		NewForwarder: func(_ context.Context, deps ForwarderDeps) (Forwarder, error) {
			fwd.beat = deps.Heartbeat
			return fwd, nil
		}})

	t0 := cycleStart(6)
	gw := newGateway(t, a.BrokerURL(), fwPath)
	gw.publishCycle(t, t0, nil)
	gw.publishCycle(t, t0.Add(time.Minute), nil)
	select {
	case <-fwd.entered:
	case <-time.After(60 * time.Second):
		t.Fatal("no diagnosis reached the forwarder")
	}
	assert.Empty(t, a.Stalled(), "not stalled before agent.stall_after")

	hungSince, jumped := clock.Jump(cfg.Agent.StallAfter + time.Minute)
	// The other loops beat at the new time within liveness.Interval; the
	// hung windowing does not.
	waitFor(t, 10*liveness.Interval+20*time.Second, "only the windowing stalled", func() bool {
		st := a.Stalled()
		return len(st) == 1 && st[0].Name == LoopWindowing
	})
	for _, l := range a.Liveness().Loops() {
		if l.Name != LoopWindowing {
			waitFor(t, 10*liveness.Interval+20*time.Second, l.Name+" beating", func() bool {
				for _, m := range a.Liveness().Loops() {
					if m.Name == l.Name {
						return !m.LastBeat.Before(jumped)
					}
				}
				return false
			})
		}
	}
	st := a.Stalled()
	require.Len(t, st, 1)
	assert.False(t, st[0].LastBeat.After(hungSince), "last beat %s, hung since %s", st[0].LastBeat, hungSince)

	var lb api.LiveBody
	require.Equal(t, http.StatusServiceUnavailable, getJSON(t, a.APIAddr(), "/health/live", &lb))
	assert.Equal(t, "stalled", lb.Status)
	require.Len(t, lb.Stalled, 1)
	assert.Equal(t, LoopWindowing, lb.Stalled[0].Loop)
	assert.True(t, lb.Stalled[0].Since.Equal(st[0].LastBeat.UTC()))
	assert.Contains(t, getText(t, a.APIAddr(), "/metrics"), `rig_agent_loop_stalled{loop="windowing"} 1`)

	release()
	waitFor(t, 30*time.Second, "the windowing beating again", func() bool { return len(a.Stalled()) == 0 })
	require.Equal(t, http.StatusOK, getJSON(t, a.APIAddr(), "/health/live", &lb))
	assert.Equal(t, "ok", lb.Status)
}
