package dataset_test

import (
	"testing"

	"github.com/hydrognn/hydrognn/shared/dataset"
)

// TestParseValue: decimal numbers in the float64 range parse; an empty
// value, ParseFloat's other forms and values out of range are errors that
// quote the value, cut after 40 bytes.
func TestParseValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{
		{"1.5", 1.5, ""},
		{"-2e3", -2000, ""},
		{"+0.25", 0.25, ""},
		{"", 0, "empty value"},
		{"NaN", 0, `"NaN" is not a decimal number`},
		{"inf", 0, `"inf" is not a decimal number`},
		{"0x1p4", 0, `"0x1p4" is not a decimal number`},
		{"1_000", 0, `"1_000" is not a decimal number`},
		{"1.2.3", 0, `"1.2.3" is not a decimal number`},
		{"1e400", 0, `"1e400" is out of the float64 range`},
		{"12345678901234567890123456789012345678901x", 0, `"1234567890123456789012345678901234567890"... is not a decimal number`},
	} {
		v, err := dataset.ParseValue([]byte(tc.in))
		if tc.err == "" {
			if err != nil || v != tc.want {
				t.Errorf("ParseValue(%q) = %v, %v; want %v", tc.in, v, err, tc.want)
			}
			continue
		}
		if err == nil || err.Error() != tc.err {
			t.Errorf("ParseValue(%q) error %v; want %q", tc.in, err, tc.err)
		}
	}
}
