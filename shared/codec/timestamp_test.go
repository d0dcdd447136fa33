package codec

import (
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestDecimalNanos(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1e6, true},
		{"-1.5", -1500000, true},
		{"1772366400125.5", 1772366400125500000, true},
		{"1.772366400125e12", 1772366400125000000, true},
		{"0.0000004", 0, true},
		{"0.0000005", 1, true},
		{"-0.0000005", -1, true},
		{"5e-7", 1, true},
		{"1e-400", 0, true},
		{".5", 500000, true},
		{"5.", 5000000, true},
		{"1e400", math.MaxInt64, true},
		{"-1e400", math.MinInt64, true},
		{"9223372036854.775807", math.MaxInt64, true},
		{"", 0, false},
		{".", 0, false},
		{"1e", 0, false},
		{"1x", 0, false},
		{"--1", 0, false},
	}
	for _, tc := range cases {
		got, ok := decimalNanos([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("decimalNanos(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzDecimalNanos compares decimalNanos with exact big.Float arithmetic.
func FuzzDecimalNanos(f *testing.F) {
	for _, s := range []string{"1772366400125.5", "-0.0000005", "1e-3", "9223372036854.775807", "123456789012345678901234567890e-20"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := decimalNanos([]byte(s))
		if !ok {
			return
		}
		if strings.ContainsAny(s, "eE") {
			// Skip huge exponents for the reference.
			if i := strings.IndexAny(s, "eE"); len(s)-i > 5 {
				return
			}
		}
		x, okr := new(big.Rat).SetString(s)
		if !okr {
			t.Fatalf("decimalNanos accepted %q, big.Rat refused", s)
		}
		x.Mul(x, big.NewRat(1e6, 1))
		// Round half away from zero: floor(|x| + 1/2), with x's sign.
		neg := x.Sign() < 0
		x.Abs(x)
		x.Add(x, big.NewRat(1, 2))
		q := new(big.Int).Quo(x.Num(), x.Denom())
		if neg {
			q.Neg(q)
		}
		var want int64
		switch {
		case q.Cmp(big.NewInt(math.MaxInt64)) >= 0:
			want = math.MaxInt64
		case q.Cmp(big.NewInt(math.MinInt64)) <= 0:
			want = math.MinInt64
		default:
			want = q.Int64()
		}
		if got != want {
			t.Fatalf("decimalNanos(%q) = %d, want %d", s, got, want)
		}
	})
}

// FuzzRFC3339 compares parseRFC3339 with time.Parse.
func FuzzRFC3339(f *testing.F) {
	for _, s := range []string{"2026-03-01T12:00:00.125Z", "2026-03-01T13:30:00+01:30", "2024-02-29T23:59:59.999999999-23:59", "1678-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, msg := parseRFC3339([]byte(s))
		ref, err := time.Parse(time.RFC3339Nano, s)
		if msg != "" {
			// time.Parse is laxer (one-digit hours, more than 9 fraction
			// digits, "+24:00"): only flag strict RFC 3339 shapes.
			if err == nil && strictShape(s) && !ref.Before(minTime) && !ref.After(maxTime) {
				t.Fatalf("parseRFC3339(%q) refused (%s), time.Parse gives %v", s, msg, ref)
			}
			return
		}
		if len(s) > 10 && (s[10] == 't' || s[10] == ' ') || strings.HasSuffix(s, "z") {
			return // forms time.Parse does not take
		}
		if err != nil {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse refuses: %v", s, got, err)
		}
		if !got.Equal(ref) || got.Location() != time.UTC {
			t.Fatalf("parseRFC3339(%q) = %v, time.Parse gives %v", s, got, ref)
		}
	})
}

// strictShape reports whether s looks like YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|+HH:MM|-HH:MM)
// with hours < 24.
func strictShape(s string) bool {
	if len(s) < 20 {
		return false
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18} {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		rest = rest[n:]
	}
	switch {
	case rest == "Z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		return (rest[1] < '2' || rest[1] == '2' && rest[2] < '4') && rest[4] < '6'
	}
	return false
}
