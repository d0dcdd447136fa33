package train

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// rewriteRows replaces every line of dir/name by f(values of the line).
func rewriteRows(t testing.TB, dir, name string, f func(line int, vals []string) []string) {
	t.Helper()
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.Join(f(i+1, strings.Split(l, "\t")), "\t")
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A row length that is neither the grid's steps nor the sensor's rate ×
// cycle_s is an error naming the file, line and the counts allowed; the
// old loader inferred a rate from the length and loaded 59, 30, 1 or 61
// values into a shifted, held or masked grid.
func TestLoadUCIWrongColumnCount(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig") // PS1 100 Hz, TS1 1 Hz, cycle_s 60
	for _, tc := range []struct {
		sensor string
		n      int
		want   []string
	}{
		{"PS1", 59, []string{"PS1.txt line 1 has 59 values", "wants 60", "or 6000"}},
		{"PS1", 30, []string{"PS1.txt line 1 has 30 values", "wants 60", "or 6000"}},
		{"PS1", 120, []string{"PS1.txt line 1 has 120 values"}},
		{"TS1", 1, []string{"TS1.txt line 1 has 1 values", "wants 60"}},
		{"TS1", 61, []string{"TS1.txt line 1 has 61 values", "wants 60"}},
	} {
		t.Run(tc.sensor+"/"+strconv.Itoa(tc.n), func(t *testing.T) {
			dir := writeSynthetic(t, cfg, 2, 3, 1)
			rewriteRows(t, dir, tc.sensor+".txt", func(_ int, v []string) []string {
				out := make([]string, tc.n)
				for i := range out {
					out[i] = v[i%len(v)]
				}
				return out
			})
			_, err := LoadUCI(dir, cfg, 1)
			if err == nil {
				t.Fatalf("%s with %d values per line loaded", tc.sensor, tc.n)
			}
			if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), filepath.Join(dir, tc.sensor+".txt")) {
				t.Errorf("error %v: want ErrData naming %s", err, filepath.Join(dir, tc.sensor+".txt"))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// Rows at the sensor's own rate (6000 values of a 100 Hz sensor over 60 s)
// still load, onto the grid by block means.
func TestLoadUCINativeRate(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	dir := writeSynthetic(t, cfg, 2, 3, 1)
	ref, err := LoadUCI(dir, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	rewriteRows(t, dir, "PS1.txt", func(_ int, v []string) []string {
		var out []string
		for _, x := range v {
			for range 100 {
				out = append(out, x)
			}
		}
		return out
	})
	ds, err := LoadUCI(dir, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ds.Grids {
		for k, v := range ds.Grids[i][0] {
			if d := v - ref.Grids[i][0][k]; d > 1e-9 || d < -1e-9 {
				t.Fatalf("window %d cell %d: %v, want %v", i, k, v, ref.Grids[i][0][k])
			}
		}
	}
}

// A rig without targets is refused with a clear error; the old loader
// returned grids without labels and train.Run panicked.
func TestLoadUCINoTargets(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	dir := writeSynthetic(t, cfg, 2, 3, 1)
	cfg.Targets = nil
	ds, err := LoadUCI(dir, cfg, 1)
	if err == nil || !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "no targets") {
		t.Fatalf("got %v (%d windows), want an ErrData saying the rig has no targets", err, dsLen(ds))
	}
}

func dsLen(ds *Dataset) int {
	if ds == nil {
		return 0
	}
	return ds.Len()
}

// A value the agent's ingest would drop (more than 10 % of the span
// outside the sensor's range) is an error naming file, line and column;
// the edge of the tolerance still loads.
func TestLoadUCIOutOfRange(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig") // PS1 range [0, 250]: tolerated [-25, 275]
	for _, tc := range []struct {
		v  string
		ok bool
	}{{"275", true}, {"-25", true}, {"275.5", false}, {"-26", false}, {"1e6", false}} {
		t.Run(tc.v, func(t *testing.T) {
			dir := writeSynthetic(t, cfg, 2, 3, 1)
			rewriteRows(t, dir, "PS1.txt", func(line int, v []string) []string {
				if line == 4 {
					v[6] = tc.v
				}
				return v
			})
			_, err := LoadUCI(dir, cfg, 1)
			if tc.ok {
				if err != nil {
					t.Fatalf("%s inside the tolerance: %v", tc.v, err)
				}
				return
			}
			want := filepath.Join(dir, "PS1.txt") + " line 4 column 7"
			if err == nil || !errors.Is(err, ErrData) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v, want ErrData naming %q", err, want)
			}
		})
	}
}

// Dataset.Check refuses slices that do not agree in length, and labels
// that are not a class index of their target (or -1, unknown), naming the
// window and the target.
func TestDatasetCheck(t *testing.T) {
	two := rig.Target{Name: "valve", Classes: []rig.Class{{Value: 0}, {Value: 1}}}
	three := rig.Target{Name: "pump", Classes: []rig.Class{{Value: 0}, {Value: 1}, {Value: 2}}}
	ds := &Dataset{Grids: make([][][]float64, 3), Labels: [][]int{{0}, {1}, {-1}}, Groups: []int{0, 0, 1}, Source: "x"}
	if err := ds.Check([]rig.Target{two}); err != nil {
		t.Fatal(err)
	}
	if err := ds.Check([]rig.Target{two, three}); err == nil {
		t.Error("labels of 1 target accepted for 2")
	}
	ds.Labels = [][]int{{0, 2}, {1, 0}, {0, 2}}
	if err := ds.Check([]rig.Target{two, three}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		labels [][]int
		want   string
	}{
		{[][]int{{0, 2}, {1, 3}, {0, 2}}, `window 1 target "pump": label 3`},
		{[][]int{{0, 2}, {1, 0}, {2, 2}}, `window 2 target "valve": label 2`},
		{[][]int{{-2, 2}, {1, 0}, {0, 2}}, `window 0 target "valve": label -2`},
	} {
		ds.Labels = c.labels
		err := ds.Check([]rig.Target{two, three})
		if !errors.Is(err, ErrData) || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("labels %v: got %v, want ErrData with %q", c.labels, err, c.want)
		}
	}
	ds.Labels = nil
	if err := ds.Check([]rig.Target{two}); err == nil || !errors.Is(err, ErrData) {
		t.Errorf("no labels for 3 windows: %v", err)
	}
}

// The real UCI 1 Hz copy passes every check (column counts, ranges,
// labels) for the ZeMA config.
func TestLoadUCIRealData(t *testing.T) {
	if testing.Short() {
		t.Skip("reads the UCI copy")
	}
	data, err := dataset.Dir()
	if err != nil {
		t.Skip(err)
	}
	dir := filepath.Join(data, "uci-hydraulic-1hz")
	if _, err := os.Stat(filepath.Join(dir, "PS1.txt")); err != nil {
		t.Skipf("no UCI copy: %v", err)
	}
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds, err := LoadUCI(dir, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() == 0 || ds.Check(cfg.Targets) != nil {
		t.Errorf("%d cycles: %v", ds.Len(), ds.Check(cfg.Targets))
	}
}

// LoadUCI keeps cycles.txt's original cycle numbers (the real UCI copy
// skips cycles) as CycleIDs, Subset keeps each window's, and Check
// refuses a count that does not match; without cycles.txt they are nil.
// rigctl diagnose's clock reads them.
func TestLoadUCICycleIDs(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	dir := writeSynthetic(t, cfg, 2, 3, 1) // 6 cycles
	ds, err := LoadUCI(dir, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ds.CycleIDs != nil {
		t.Fatalf("no cycles.txt: CycleIDs %v, want nil", ds.CycleIDs)
	}
	if err := os.WriteFile(filepath.Join(dir, "cycles.txt"), []byte("212\n213\n225\n226\n250\n251\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ds, err = LoadUCI(dir, cfg, 1); err != nil {
		t.Fatal(err)
	}
	if want := []int{212, 213, 225, 226, 250, 251}; !slices.Equal(ds.CycleIDs, want) {
		t.Errorf("CycleIDs %v, want %v", ds.CycleIDs, want)
	}
	if sub := ds.Subset([]int{4, 1}); !slices.Equal(sub.CycleIDs, []int{250, 213}) {
		t.Errorf("Subset's CycleIDs %v, want [250 213]", sub.CycleIDs)
	}
	ds.CycleIDs = ds.CycleIDs[:5]
	if err := ds.Check(cfg.Targets); err == nil || !strings.Contains(err.Error(), "6 windows and 5 cycle numbers") {
		t.Errorf("Check with 5 cycle numbers for 6 windows: %v", err)
	}
}
