package sim

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

// TestDatasetColumnRoundTrip: a config whose sensor sets column: still
// round-trips simulate → Dataset → uci.Write → train.LoadUCI, because the
// writer and the loader both name UCI-layout files by rig.Sensor.UCIName
// (the id). Before, the simulator wrote PS1.txt and the trainer looked for
// PS1col.txt.
func TestDatasetColumnRoundTrip(t *testing.T) {
	cfg := cloneConfig(t, "zema-testrig.yaml")
	found := false
	for i := range cfg.Sensors {
		if cfg.Sensors[i].ID == "PS1" {
			cfg.Sensors[i].Column = "PS1col"
			found = true
		}
	}
	if !found {
		t.Fatal("zema-testrig.yaml has no PS1")
	}
	s, err := New(cfg, Options{Seed: 5, WarmupCycles: 1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	set, err := s.Dataset(context.Background(), DatasetOptions{Cycles: 2, GridHz: 1})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := uci.Write(dir, set); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PS1.txt")); err != nil {
		t.Errorf("the simulator's PS1 file: %v", err)
	}
	ds, err := train.LoadUCI(dir, cfg, 1)
	if err != nil {
		t.Fatalf("LoadUCI of the simulator's own data set: %v", err)
	}
	if len(ds.Grids) != 2 {
		t.Fatalf("LoadUCI read %d cycles, want 2", len(ds.Grids))
	}
	// The values read back are the ones written, sensor by sensor.
	compared := 0
	for i, sn := range s.Sensors() {
		for k, spec := range ds.Spec.Sensors {
			if spec.ID != sn.ID {
				continue
			}
			compared++
			for c := range 2 {
				for j, v := range set.Data[i][c] {
					if got := ds.Grids[c][k][j]; got != v {
						t.Fatalf("%s cycle %d cell %d: read %v, wrote %v", sn.ID, c, j, got, v)
					}
				}
			}
		}
	}
	if compared != len(s.Sensors()) {
		t.Errorf("compared %d sensors of %d", compared, len(s.Sensors()))
	}
}
