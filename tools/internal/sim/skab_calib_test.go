package sim

import (
	"context"
	"math"
	"testing"
)

// TestSKABCalibration pins the SKAB simulation to the figures its
// calibration (calib/skab-testbed.yaml) and docs/simulator.md state: the
// means of SKAB's anomaly-free file. The simulation used to give 2.87 A,
// a 101 C motor body and 26.4 C water against the stated 2.4 A, 89 C and
// 28.5 C.
func TestSKABCalibration(t *testing.T) {
	cfg := loadConfig(t, "skab-testbed.yaml")
	// The default warm-up, as rigsim runs it.
	s, err := New(cfg, Options{Seed: 3, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var cycles []*Cycle
	if err := s.Cycles(context.Background(), 4, func(c *Cycle) error {
		cycles = append(cycles, c)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, sn := range s.Sensors() {
		col[sn.ID] = i
	}
	for _, want := range []struct {
		id        string
		mean, tol float64
	}{
		{"Current", 2.40, 0.08},
		{"Temperature", 89.5, 1.5},
		{"Thermocouple", 28.5, 0.8},
		{"VolumeFlowRateRMS", 125.2, 2},
		{"Voltage", 228.6, 3},
	} {
		i, ok := col[want.id]
		if !ok {
			t.Fatalf("skab-testbed.yaml has no sensor %s", want.id)
		}
		sum, n := 0.0, 0
		for _, c := range cycles {
			for _, v := range c.Samples[i] {
				if !math.IsNaN(v) {
					sum += v
					n++
				}
			}
		}
		got := sum / float64(n)
		t.Logf("%s: mean %.3f (calibrated to %v)", want.id, got, want.mean)
		if math.Abs(got-want.mean) > want.tol {
			t.Errorf("%s: simulated mean %.3f, want %v ± %v (SKAB anomaly-free mean)", want.id, got, want.mean, want.tol)
		}
	}
}
