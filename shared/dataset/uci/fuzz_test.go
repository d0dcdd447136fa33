package uci

import (
	"math"
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
