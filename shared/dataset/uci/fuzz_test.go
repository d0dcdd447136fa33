package uci

import (
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseLine checks that ParseLine never panics, returns only finite
// values with an error-free line, and that writing them back with
// strconv 'g' -1 parses to the same bits.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"169.78499999999997\t189.8213\t189.81619999999998",
		"3\t73\t2\t130\t0",
		"-1e-300\t+5\t.5\t5.",
		"1e999", "NaN", "0x1p3", "1\t\t2", "", "1_000",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		vals, col, err := ParseLine([]byte(line), nil)
		if err != nil {
			if col < 1 || col > strings.Count(line, "\t")+1 {
				t.Fatalf("ParseLine(%q): error %v at column %d", line, err, col)
			}
			return
		}
		if len(vals) != strings.Count(line, "\t")+1 {
			t.Fatalf("ParseLine(%q): %d values", line, len(vals))
		}
		var b []byte
		for i, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("ParseLine(%q): value %v", line, v)
			}
			if i > 0 {
				b = append(b, '\t')
			}
			b = strconv.AppendFloat(b, v, 'g', -1, 64)
		}
		again, _, err := ParseLine(b, nil)
		if err != nil {
			t.Fatalf("re-parse %q: %v", b, err)
		}
		for i := range vals {
			if math.Float64bits(vals[i]) != math.Float64bits(again[i]) {
				t.Fatalf("value %d: %v then %v", i, vals[i], again[i])
			}
		}
	})
}

// FuzzRead checks that Read never panics on arbitrary file contents, that
// its errors name the folder (the file's path, not its base name), and
// that a set it returns holds rectangular matrices of finite values with
// one row per cycle in every file.
func FuzzRead(f *testing.F) {
	for _, s := range [][2]string{
		{"1\t2\n3\t4\n", "0\n1\n"},
		{"1\t2\n3\n", "0\n1\n"},
		{"1\t2\r\n3\t4 \r\n\n", "0\n1\n"},
		{"1\n\n2\n", "0\n1\n"},
		{"NaN\n", "0\n"},
		{"1\n2\n", "0\t1\n"},
		{"", ""},
	} {
		f.Add(s[0], s[1])
	}
	dir := filepath.Join(f.TempDir(), "set")
	if err := os.Mkdir(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, profile string) {
		if err := os.WriteFile(filepath.Join(dir, "A.txt"), []byte(a), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ProfileFile), []byte(profile), 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := Read(dir, []string{"A"}, 1)
		if err != nil {
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the folder %s", err, dir)
			}
			return
		}
		if len(set.Data[0]) != set.Cycles || len(set.Profile) != set.Cycles {
			t.Fatalf("%d cycles, %d rows, %d profile rows", set.Cycles, len(set.Data[0]), len(set.Profile))
		}
		if err := set.Validate(); err != nil && set.Cycles > 0 {
			t.Fatalf("Read returned a set Validate refuses: %v", err)
		}
	})
}
