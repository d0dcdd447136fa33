package uci_test

import (
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
)

// A number too large for a float64 is reported as out of range, naming
// it and its column; a malformed one as not a decimal number.
func TestParseLineRange(t *testing.T) {
	for _, tc := range []struct {
		line string
		col  int
		want string
	}{
		{"1\t1e999", 2, `"1e999" is out of the float64 range`},
		{"-1e400\t2", 1, `"-1e400" is out of the float64 range`},
		{"1\t2\t1..2", 3, `"1..2" is not a decimal number`},
		{"e", 1, `"e" is not a decimal number`},
	} {
		_, col, err := uci.ParseLine([]byte(tc.line), nil)
		if err == nil || err.Error() != tc.want || col != tc.col {
			t.Errorf("ParseLine(%q) = column %d, %v; want column %d, %s", tc.line, col, err, tc.col, tc.want)
		}
	}
	// Underflow is not an error: it reads as 0, as ParseFloat gives it.
	if vals, _, err := uci.ParseLine([]byte("1e-999"), nil); err != nil || len(vals) != 1 || vals[0] != 0 {
		t.Errorf("ParseLine(1e-999) = %v, %v; want [0]", vals, err)
	}
}
