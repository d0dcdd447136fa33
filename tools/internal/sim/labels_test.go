package sim

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

// labelRun simulates n cycles of cfgName from the start of recording (no
// warm-up) under faults and returns each target's labels by name.
func labelRun(t *testing.T, cfgName string, n int, faults ...scenario.Fault) (map[string][]float64, []*Cycle) {
	t.Helper()
	cfg := loadConfig(t, cfgName)
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: -1, StableDriftK: 100, Logger: quiet(),
		Scenario: &scenario.Scenario{Faults: faults}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	var cycles []*Cycle
	if err := s.Cycles(context.Background(), n, func(c *Cycle) error {
		for i, tg := range cfg.Targets {
			out[tg.Name] = append(out[tg.Name], c.Labels[i])
		}
		cycles = append(cycles, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out, cycles
}

// TestLabelsPartialCycle: a fault that covers only part of a cycle. The
// anomaly flag is 1 for a cycle with any faulty step, not only when the
// fault holds at mid-cycle; a condition target gets the value that held for
// most of the cycle; the stable flag marks the cycle of a change and the
// next ones.
func TestLabelsPartialCycle(t *testing.T) {
	t.Run("anomaly", func(t *testing.T) {
		// SKAB: 60 s windows; the offset covers 62-80 s of cycle 2
		// (60-120 s), not its midpoint.
		f := scenario.Fault{Kind: scenario.SensorOffset, Sensor: "Pressure", Value: val(5),
			From: 62 * time.Second, To: 80 * time.Second}
		labels, cycles := labelRun(t, "skab-testbed.yaml", 3, f)
		if want := []float64{0, 1, 0}; !slices.Equal(labels["anomaly"], want) {
			t.Errorf("anomaly labels %v, want %v", labels["anomaly"], want)
		}
		cfg := loadConfig(t, "skab-testbed.yaml")
		p := sensorIndex(t, cfg, "Pressure")
		if d := windowMean(cycles[1], p, 1, 3, 19) - windowMean(cycles[0], p, 1, 3, 19); d < 4 {
			t.Errorf("cycle 2's Pressure at 63-79 s is %.2f bar above cycle 1's, want the 5 bar offset", d)
		}
	})
	t.Run("condition", func(t *testing.T) {
		// ZeMA: 60 s cycles; cycle 2 is 60-120 s, its midpoint 90 s.
		faults := []scenario.Fault{
			// Only around the midpoint: the cooler is healthy for 50 of 60 s.
			{Kind: scenario.CoolerEfficiency, Component: "cooler_c1", Value: val(20),
				From: 85 * time.Second, To: 95 * time.Second},
			// Everywhere but around the midpoint: leaking for 56 of 60 s.
			{Kind: scenario.Leakage, Component: "pump_mp1", Value: val(2),
				From: 61 * time.Second, To: 89 * time.Second},
			{Kind: scenario.Leakage, Component: "pump_mp1", Value: val(2),
				From: 91 * time.Second, To: 119 * time.Second},
		}
		labels, _ := labelRun(t, "zema-testrig.yaml", 4, faults...)
		want := map[string][]float64{
			"cooler":      {100, 100, 100, 100},
			"pump":        {0, 2, 0, 0},
			"valve":       {100, 100, 100, 100},
			"accumulator": {130, 130, 130, 130},
			// Conditions changed within cycle 2 (the last time at
			// 119 s): not yet stable for it and the next two.
			"stable": {0, 1, 1, 1},
		}
		for name, w := range want {
			if !slices.Equal(labels[name], w) {
				t.Errorf("%s labels %v, want %v", name, labels[name], w)
			}
		}
	})
}
