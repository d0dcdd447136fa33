package sim

import (
	"context"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

// TestDatasetBackfillsLeadingDropout: a sensor with no sample since the
// data set's first cycle (a dropout from cycle 1 on) was written as 0, a
// plausible-looking value (0 °C, 0 bar). It is now written as the
// sensor's first later sample (on a grid, its first later cell), as a
// dropout at a cycle's start already was; a sensor with no sample in any
// cycle is refused with an error naming it.
func TestDatasetBackfillsLeadingDropout(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	for _, grid := range []float64{0, 1} {
		s, err := New(cfg, Options{Seed: 3, WarmupCycles: -1, Logger: quiet(),
			Scenario: &scenario.Scenario{Faults: []scenario.Fault{{Kind: scenario.SensorDropout, Sensor: "TS2", Cycles: []int{1, 2}}}}})
		if err != nil {
			t.Fatal(err)
		}
		set, err := s.Dataset(context.Background(), DatasetOptions{Cycles: 3, GridHz: grid})
		if err != nil {
			t.Fatal(err)
		}
		ts2 := set.Sensor("TS2")
		first := ts2[2][0]
		if first < 20 || first > 80 {
			t.Fatalf("grid %v: TS2's first sample of cycle 3 is %v °C", grid, first)
		}
		for c := range 2 {
			for j, v := range ts2[c] {
				if v != first {
					t.Fatalf("grid %v: TS2 cycle %d sample %d = %v, want the first later sample %v", grid, c+1, j, v, first)
				}
			}
		}
	}

	s, err := New(cfg, Options{Seed: 3, WarmupCycles: -1, Logger: quiet(),
		Scenario: &scenario.Scenario{Faults: []scenario.Fault{{Kind: scenario.SensorDropout, Sensor: "TS2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Dataset(context.Background(), DatasetOptions{Cycles: 2}); err == nil || !strings.Contains(err.Error(), "sensor TS2 gave no sample") {
		t.Errorf("a sensor without any sample: %v, want an error naming TS2", err)
	}
}
