package rollout

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hydrognn/hydrognn/shared/rolloutapi"
)

// Step is what one step of a rollout did.
type Step struct {
	RolloutID int64
	// Locked: another replica (or an API call) held the rollout's row;
	// nothing was done.
	Locked bool
	// Event is "" (nothing to do), "advanced", "completed" or "halted".
	Event  string
	Cohort int
	Reason string
}

// Events of a Step.
const (
	EventAdvanced  = "advanced"
	EventCompleted = "completed"
	EventHalted    = "halted"
)

// Store is what the Engine needs (*store.Store).
type Store interface {
	// RunningRollouts lists the ids of running rollouts, every
	// organisation's.
	RunningRollouts(ctx context.Context) ([]int64, error)
	// StepRollout applies Decide to one rollout in one transaction
	// holding its row lock (taken with SKIP LOCKED: Locked when held
	// elsewhere), at now.
	StepRollout(ctx context.Context, id int64, now time.Time) (Step, error)
	// RolloutCounts counts every organisation's rollouts by state (a
	// state without rollouts may be left out).
	RolloutCounts(ctx context.Context) (map[rolloutapi.State]int, error)
	// FirmwareMismatchedRigs counts every organisation's rigs flagged
	// firmware_mismatch now: a registered firmware digest that an agent
	// of the rig, not revoked, last reported another of
	// (fleetapi.RigStatus.FirmwareMismatch).
	FirmwareMismatchedRigs(ctx context.Context) (int, error)
}

// Options configure an Engine; zero fields take the defaults noted.
type Options struct {
	// Interval is the time between two passes over the running rollouts,
	// plus up to 10 % at random (0: 10s).
	Interval time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Log receives a line per event and per error (nil: discarded).
	Log *slog.Logger
}

// Engine steps every running rollout periodically. Make it with
// NewEngine; Run it once per process (several replicas may each run one).
// It is a prometheus.Collector of its counters,
// rig_cloud_rollout_events_total{event} and
// rig_cloud_rollout_step_errors_total, and of the gauges
// rig_cloud_rollouts{state} and rig_cloud_rigs_firmware_mismatched that
// each Tick refreshes.
//
// rig_cloud_rigs_firmware_mismatched is here because a rig whose agents
// run another firmware config than its registration is left out of
// rollouts of releases made for it; unlike the counter of mismatched
// check-ins (httpapi), it goes back down once the registration is
// corrected (PATCH /v1/rigs/{rig}) or the firmware put back, so an alert
// on it clears.
type Engine struct {
	st  Store
	opt Options

	events   *prometheus.CounterVec
	errors   prometheus.Counter
	rollouts *prometheus.GaugeVec
	// mismatched is rig_cloud_rigs_firmware_mismatched (0 until the
	// first pass).
	mismatched prometheus.Gauge
}

// NewEngine returns an Engine on st.
func NewEngine(st Store, o Options) *Engine {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{st: st, opt: o,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_rollout_events_total",
			Help: "Rollout events of this replica's engine: a cohort advanced, a rollout completed or halted."}, []string{"event"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_rollout_step_errors_total",
			Help: "Failed passes or rollout steps of this replica's engine (each logged)."}),
		rollouts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "rig_cloud_rollouts",
			Help: "Rollouts of every organisation by state, as of this replica's last engine pass."}, []string{"state"}),
		mismatched: prometheus.NewGauge(prometheus.GaugeOpts{Name: "rig_cloud_rigs_firmware_mismatched",
			Help: "Rigs of every organisation flagged firmware_mismatch (an agent, not revoked, last reported a firmware digest other than the rig's registered one), as of this replica's last engine pass."}),
	}
	for _, ev := range []string{EventAdvanced, EventCompleted, EventHalted} {
		e.events.WithLabelValues(ev)
	}
	return e
}

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	e.events.Describe(ch)
	e.errors.Describe(ch)
	e.rollouts.Describe(ch)
	e.mismatched.Describe(ch)
}

// Collect implements prometheus.Collector.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.events.Collect(ch)
	e.errors.Collect(ch)
	e.rollouts.Collect(ch)
	e.mismatched.Collect(ch)
}

// Tick steps every running rollout once, then refreshes the
// rig_cloud_rollouts and rig_cloud_rigs_firmware_mismatched gauges (one
// query each), and returns the steps taken (locked ones included). An
// error of one rollout or gauge is logged and the others are still
// stepped or refreshed; the first error is returned.
func (e *Engine) Tick(ctx context.Context) ([]Step, error) {
	ids, err := e.st.RunningRollouts(ctx)
	if err != nil {
		e.errors.Inc()
		return nil, err
	}
	steps, first := e.step(ctx, ids)
	if ctx.Err() != nil {
		return steps, ctx.Err()
	}
	fail := func(msg string, err error) {
		e.errors.Inc()
		e.opt.Log.Error(msg, "err", err)
		if first == nil {
			first = err
		}
	}
	if counts, err := e.st.RolloutCounts(ctx); err != nil {
		fail("rollout counts failed", err)
	} else {
		for _, s := range rolloutapi.States {
			e.rollouts.WithLabelValues(string(s)).Set(float64(counts[s]))
		}
	}
	if n, err := e.st.FirmwareMismatchedRigs(ctx); err != nil {
		fail("firmware-mismatched rigs count failed", err)
	} else {
		e.mismatched.Set(float64(n))
	}
	return steps, first
}

// step steps the rollouts ids once each.
func (e *Engine) step(ctx context.Context, ids []int64) ([]Step, error) {
	var steps []Step
	var first error
	for _, id := range ids {
		s, err := e.st.StepRollout(ctx, id, e.opt.Now())
		if err != nil {
			if ctx.Err() != nil {
				return steps, ctx.Err()
			}
			e.errors.Inc()
			e.opt.Log.Error("rollout step failed", "rollout", id, "err", err)
			if first == nil {
				first = err
			}
			continue
		}
		steps = append(steps, s)
		if s.Event != "" {
			e.events.WithLabelValues(s.Event).Inc()
			e.opt.Log.Info("rollout "+s.Event, "rollout", id, "cohort", s.Cohort, "reason", s.Reason)
		}
	}
	return steps, first
}

// Run ticks every Interval (plus jitter) until ctx ends; it returns when
// the tick in progress has ended.
func (e *Engine) Run(ctx context.Context) {
	for {
		if _, err := e.Tick(ctx); err != nil && ctx.Err() == nil {
			e.opt.Log.Warn("rollout engine pass failed", "err", err)
		}
		wait := e.opt.Interval + time.Duration(rand.Int64N(int64(e.opt.Interval)/10+1))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
