package skab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// An experiment file whose label column is not the lowercase "anomaly"
// is an error naming it; the old loader moved it into the anomaly-free
// set (trained as normal data, never scored).
func TestLoadDirUnlabelledExperiment(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	writeSynthetic(t, filepath.Join(dir, "anomaly-free", AnomalyFreeName), 240, 0, 0, false, 1)
	bad := filepath.Join(dir, "valve1", "0.csv")
	writeSynthetic(t, bad, 200, 110, 170, true, 2)
	b, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.Replace(string(b), ";anomaly;", ";Anomaly;", 1))
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := LoadDir(dir, cfg)
	if err == nil {
		t.Fatalf("loaded: %d anomaly-free, %d experiment files", len(set.Free), len(set.Experiments))
	}
	if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), `"anomaly"`) {
		t.Errorf("error %v: want ErrData naming %s and the anomaly column", err, bad)
	}
	// An unlabelled file outside the anomaly-free names is refused too.
	dir2 := t.TempDir()
	writeSynthetic(t, filepath.Join(dir2, "other", "3.csv"), 200, 0, 0, false, 3)
	if _, err := LoadDir(dir2, cfg); !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "3.csv") {
		t.Errorf("unlabelled other/3.csv: %v", err)
	}
}

// Files named anomaly-free*.csv, or under an anomaly-free folder, are
// normal data, labelled or not; labelled files elsewhere are experiments.
func TestLoadDirAnomalyFreeNames(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	writeSynthetic(t, filepath.Join(dir, "anomaly-free", "run.csv"), 100, 0, 0, false, 1)
	writeSynthetic(t, filepath.Join(dir, "anomaly-free-2.csv"), 100, 0, 0, false, 2)
	writeSynthetic(t, filepath.Join(dir, "extra", "anomaly-free.csv"), 100, 0, 0, true, 3)
	writeSynthetic(t, filepath.Join(dir, "valve1", "1.csv"), 100, 40, 60, true, 4)
	set, err := LoadDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Free) != 3 || len(set.Experiments) != 1 {
		t.Fatalf("%d anomaly-free, %d experiment files; want 3 and 1", len(set.Free), len(set.Experiments))
	}
	for _, s := range set.Free {
		if s.Labelled() {
			t.Errorf("%s: anomaly-free file keeps labels", s.Name)
		}
	}
	// The folder rule looks only below dir: a dir itself called
	// anomaly-free does not make every file in it normal.
	if IsAnomalyFree(filepath.Join(dir, "anomaly-free"), filepath.Join(dir, "anomaly-free", "x", "1.csv")) {
		t.Error("the folder read counts as an anomaly-free folder")
	}
}

// A value the agent's ingest would drop (more than 10 % of the span
// outside the sensor's range) is an error naming file, line and column.
func TestLoadOutOfRange(t *testing.T) {
	cfg := loadRig(t) // Current: range [0, 10], tolerated [-1, 11]
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"11", true}, {"-1", true}, {"11.5", false}, {"-1.2", false}, {"1e9", false}} {
		t.Run(tc.v, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "valve1", "1.csv")
			writeSynthetic(t, path, 20, 5, 10, true, 1)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			f := strings.Split(lines[3], ";")
			f[3] = tc.v // Current
			lines[3] = strings.Join(f, ";")
			if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(path, cfg)
			if tc.ok {
				if err != nil {
					t.Fatalf("%s inside the tolerance: %v", tc.v, err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrData) || !strings.Contains(err.Error(), path+` line 4 column "Current"`) {
				t.Fatalf("got %v, want ErrData naming %s line 4 column Current", err, path)
			}
		})
	}
}

// The real SKAB copy loads: one anomaly-free run, every other file an
// experiment, every value inside the sensors' tolerated ranges.
func TestLoadDirRealData(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the SKAB copy")
	}
	data, err := dataset.Dir()
	if err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(data, "skab", "data")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no SKAB copy: %v", err)
	}
	set, err := LoadDir(dir, loadRig(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Free) != 1 || len(set.Experiments) == 0 {
		t.Errorf("%d anomaly-free, %d experiment files", len(set.Free), len(set.Experiments))
	}
}

// A cancelled context stops LoadDirContext before it reads a file, with
// ctx's error.
func TestLoadDirContextCancelled(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	writeSynthetic(t, filepath.Join(dir, "anomaly-free", AnomalyFreeName), 240, 0, 0, false, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := LoadDirContext(ctx, dir, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v: want context.Canceled", err)
	}
}
