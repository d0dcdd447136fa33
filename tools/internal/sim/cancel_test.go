package sim

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/reading"
)

// TestCancelledWarmupLeavesSimUnusable: a warm-up stopped by ctx must not
// leave a Sim that later returns all-zero cycles without an error (it used
// to mark itself started before the warm-up finished).
func TestCancelledWarmupLeavesSimUnusable(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: 2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Cycles(ctx, 1, func(*Cycle) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Cycles: %v, want context.Canceled", err)
	}
	calls := 0
	err = s.Cycles(context.Background(), 1, func(*Cycle) error { calls++; return nil })
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Cycles after a cancelled warm-up: %v (fn called %d times), want the warm-up's error", err, calls)
	}
	if calls != 0 {
		t.Errorf("fn called %d times after a cancelled warm-up", calls)
	}
	if err := s.Stream(context.Background(), time.Unix(0, 0), func([]reading.Reading) error { return nil }); err == nil {
		t.Error("Stream after a cancelled warm-up: nil error")
	}
}

// TestCycleCutShortLeavesSimUnusable: a Cycles call stopped by ctx inside
// a cycle leaves the clock mid-window; a later call must say so rather
// than deliver cycles that straddle the boundary.
func TestCycleCutShortLeavesSimUnusable(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// fn cancels after the first cycle, so the second stops inside.
	err = s.Cycles(ctx, 2, func(*Cycle) error { cancel(); return nil })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Cycles: %v, want context.Canceled", err)
	}
	err = s.Cycles(context.Background(), 1, func(c *Cycle) error {
		t.Errorf("cycle %d delivered after a cycle was cut short", c.Index)
		return nil
	})
	if err == nil {
		t.Fatal("Cycles after a cycle was cut short: nil error")
	}
}

// TestCyclesResumeAfterFnError: fn's error stops Cycles between cycles,
// which leaves the Sim usable: the next call goes on with the next cycle.
func TestCyclesResumeAfterFnError(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := s.Cycles(context.Background(), 2, func(*Cycle) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Cycles: %v, want fn's error", err)
	}
	var idx int
	if err := s.Cycles(context.Background(), 1, func(c *Cycle) error { idx = c.Index; return nil }); err != nil {
		t.Fatal(err)
	}
	if idx != 2 {
		t.Errorf("next cycle is %d, want 2", idx)
	}
}
