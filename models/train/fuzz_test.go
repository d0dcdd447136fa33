package train

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// FuzzLoadUCI replaces PS1.txt and profile.txt of a small synthetic ZeMA
// folder with arbitrary text. LoadUCI must never panic; an error names
// the folder; a dataset it returns has one label row of valid class
// indices and one group per window, and PS1's grid cells are NaN or
// inside the range the agent accepts.
func FuzzLoadUCI(f *testing.F) {
	cfg := rigtest.Shipped(f, "zema-testrig")
	dir := writeSynthetic(f, cfg, 2, 2, 1)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		return string(b)
	}
	ps1, profile := read("PS1.txt"), read(uci.ProfileFile)
	lines := strings.Split(strings.TrimRight(ps1, "\n"), "\n")
	f.Add(ps1, profile)
	// too few lines
	f.Add(strings.Join(lines[:3], "\n"), profile)
	// empty value
	f.Add(strings.Replace(ps1, "\t", "\t\t", 1), profile)
	// ragged
	f.Add(strings.Replace(ps1, "\t", "\n", 1), profile)
	// out of range
	f.Add(strings.Replace(ps1, lines[0][:strings.IndexByte(lines[0], '\t')], "300", 1), profile)
	// bad class
	f.Add(ps1, strings.Replace(profile, "\t", "\t9", 1))
	f.Add(ps1, "")
	sn := cfg.ActiveSensors()[0]
	lo, hi := sn.Range.Tolerated(rig.DefaultRangeTolerance)
	f.Fuzz(func(t *testing.T, ps1, profile string) {
		if err := os.WriteFile(filepath.Join(dir, "PS1.txt"), []byte(ps1), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, uci.ProfileFile), []byte(profile), 0o644); err != nil {
			t.Fatal(err)
		}
		ds, err := LoadUCI(dir, cfg, 1)
		if err != nil {
			if !strings.Contains(err.Error(), dir) && !strings.Contains(err.Error(), cfg.RigType) {
				t.Fatalf("error %q names neither the folder nor the rig", err)
			}
			return
		}
		if err := ds.Check(cfg.Targets); err != nil {
			t.Fatal(err)
		}
		for i := range ds.Grids {
			for _, v := range ds.Grids[i][0] {
				if !math.IsNaN(v) && (v < lo || v > hi) {
					t.Fatalf("window %d: PS1 value %v outside [%v, %v]", i, v, lo, hi)
				}
			}
			for j, k := range ds.Labels[i] {
				if k < 0 || k >= len(cfg.Targets[j].Classes) {
					t.Fatalf("window %d target %d: class %d", i, j, k)
				}
			}
		}
	})
}
