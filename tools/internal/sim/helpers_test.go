package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

const configDir = "../../../firmware-configs"

var (
	cfgMu    sync.Mutex
	cfgCache = map[string]*rig.Config{}
)

// loadConfig loads a shipped firmware config (cached; callers must not
// modify it: use cloneConfig).
func loadConfig(tb testing.TB, name string) *rig.Config {
	tb.Helper()
	cfgMu.Lock()
	defer cfgMu.Unlock()
	if c, ok := cfgCache[name]; ok {
		return c
	}
	c, err := rig.Load(filepath.Join(configDir, name))
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	cfgCache[name] = c
	return c
}

// cloneConfig returns a deep enough copy to modify sensors, targets and
// components.
func cloneConfig(tb testing.TB, name string) *rig.Config {
	tb.Helper()
	c, err := rig.Load(filepath.Join(configDir, name))
	if err != nil {
		tb.Fatalf("load %s: %v", name, err)
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func val(v float64) *float64 { return &v }

// run simulates n recorded cycles (after a three-cycle warm-up) with the
// faults active throughout, and returns them.
func run(tb testing.TB, cfg *rig.Config, seed uint64, n int, faults ...scenario.Fault) []*Cycle {
	tb.Helper()
	opts := Options{Seed: seed, WarmupCycles: 3, Logger: quiet()}
	if len(faults) > 0 {
		opts.Scenario = &scenario.Scenario{Faults: faults}
	}
	s, err := New(cfg, opts)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*Cycle
	if err := s.Cycles(context.Background(), n, func(c *Cycle) error {
		out = append(out, c)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

// baselines caches healthy runs by config and seed.
var (
	baseMu sync.Mutex
	bases  = map[string]*baseRun{}
)

type baseRun struct {
	once   sync.Once
	cycles []*Cycle
}

func healthy(tb testing.TB, name string, seed uint64, n int) []*Cycle {
	tb.Helper()
	key := fmt.Sprint(name, "/", seed, "/", n)
	baseMu.Lock()
	b, ok := bases[key]
	if !ok {
		b = &baseRun{}
		bases[key] = b
	}
	baseMu.Unlock()
	b.once.Do(func() { b.cycles = run(tb, loadConfig(tb, name), seed, n) })
	if b.cycles == nil {
		tb.Fatal("healthy baseline failed")
	}
	return b.cycles
}

// sensorIndex returns the index of a sensor in cfg's active sensors.
func sensorIndex(tb testing.TB, cfg *rig.Config, id string) int {
	tb.Helper()
	for i, s := range cfg.ActiveSensors() {
		if s.ID == id {
			return i
		}
	}
	tb.Fatalf("no sensor %s", id)
	return -1
}

// windowMean is the mean of a sensor's samples in [from, to) seconds of a
// cycle (to 0: the whole cycle).
func windowMean(c *Cycle, i int, rate, from, to float64) float64 {
	row := c.Samples[i]
	a, b := int(math.Round(from*rate)), len(row)
	if to > 0 {
		b = int(math.Round(to * rate))
	}
	a = max(0, min(a, len(row)-1))
	b = max(a+1, min(b, len(row)))
	s := 0.0
	for _, v := range row[a:b] {
		s += v
	}
	return s / float64(b-a)
}
