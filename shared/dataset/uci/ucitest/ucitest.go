// Package ucitest gives tests a small copy of the real UCI hydraulic data
// set (shared/dataset), in its layout, for a test that needs real cycles
// but not all 2,205 of them. Without the data set the test is skipped.
//
//	dir := ucitest.Subset(t, 50) // every 50th cycle
//	dir = ucitest.Cycles(t, func(i int) bool { return i < 215 && i%13 == 0 }) // in order, with their profiles
//
// The lines are the copy's, not the original cycle numbers: the shipped
// copy holds 1,723 of the 2,205 cycles, line 1 being UCI cycle 212, with
// gaps. Its cycles.txt, copied with the rest, gives each kept line's
// original number.
//
// It is for tests only.
package ucitest

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// Subset writes every every-th cycle (line) of each sensor and profile
// file of the UCI data set (uci-hydraulic-1hz under dataset.Dir) to a
// temporary folder in the same layout and returns the folder. The test is
// skipped if the data set is not found; it fails if it cannot be read or
// copied.
func Subset(t testing.TB, every int) string {
	t.Helper()
	if every < 1 {
		t.Fatalf("ucitest.Subset: every must be at least 1: %d", every)
	}
	return Cycles(t, func(i int) bool { return i%every == 0 })
}

// Cycles writes the cycles (lines) i, from 0, of each sensor and profile
// file and of cycles.txt (their original cycle numbers) of the UCI data
// set for which keep(i) is true, in the data set's order, to a temporary
// folder in the same layout and returns the folder; skipped and failing
// as Subset.
func Cycles(t testing.TB, keep func(i int) bool) string {
	t.Helper()
	root, err := dataset.Dir()
	if err != nil {
		t.Skipf("UCI data not found (%v): put it under ../shared/data/uci-hydraulic-1hz or set %s", err, dataset.EnvDir)
	}
	src := filepath.Join(root, "uci-hydraulic-1hz")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Skipf("UCI data not found: %v", err)
	}
	dst := t.TempDir()
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".txt") || e.Name() == "description.txt" || e.Name() == "documentation.txt" {
			continue
		}
		if err := copyLines(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), keep); err != nil {
			t.Fatalf("ucitest: %v", err)
		}
	}
	return dst
}

// copyLines writes the lines i (from 0) of src for which keep(i) is
// true to dst.
func copyLines(src, dst string, keep func(i int) bool) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for i := 0; sc.Scan(); i++ {
		if keep(i) {
			out.WriteString(sc.Text())
			out.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return os.WriteFile(dst, []byte(out.String()), 0o644)
}
