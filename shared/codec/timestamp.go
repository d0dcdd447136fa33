package codec

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// quote quotes b for an error message, cut to 64 bytes.
func quote(b []byte) string {
	if len(b) > 64 {
		return strconv.Quote(string(b[:64])) + "..."
	}
	return strconv.Quote(string(b))
}

const rfc3339Hint = "want RFC 3339 like 2026-01-02T15:04:05.123Z or unix milliseconds"

// parseTimestamp parses a text timestamp: RFC 3339 when it holds a ':',
// otherwise unix milliseconds. It returns a reason on failure.
func parseTimestamp(b []byte) (time.Time, string) {
	if bytes.IndexByte(b, ':') >= 0 {
		return parseRFC3339(b)
	}
	return parseMillis(b)
}

// parseRFC3339 parses YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}](Z|z|+HH:MM|-HH:MM)
// without allocating. The result is in UTC.
func parseRFC3339(b []byte) (time.Time, string) {
	bad := func() (time.Time, string) {
		return time.Time{}, "bad timestamp " + quote(b) + ": " + rfc3339Hint
	}
	if len(b) < 19 {
		return bad()
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || b[4] != '-' || b[7] != '-' ||
		(b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return bad()
	}
	i := 19
	ns := 0
	if i < len(b) && b[i] == '.' {
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start < 9 {
				ns = ns*10 + int(b[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 || n > 9 {
			return time.Time{}, "bad timestamp " + quote(b) + ": want 1 to 9 digits of fraction"
		}
		for ; n < 9; n++ {
			ns *= 10
		}
	}
	if i >= len(b) {
		return time.Time{}, "bad timestamp " + quote(b) + ": no time zone (add Z for UTC)"
	}
	off := 0
	switch b[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(b)-i != 6 || b[i+3] != ':' {
			return bad()
		}
		hh, okh := digits(b[i+1 : i+3])
		mm, okm := digits(b[i+4 : i+6])
		if !okh || !okm || hh > 23 || mm > 59 {
			return bad()
		}
		off = hh*3600 + mm*60
		if b[i] == '-' {
			off = -off
		}
		i += 6
	default:
		return bad()
	}
	if i != len(b) {
		return bad()
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, "bad timestamp " + quote(b) + ": date or time out of range"
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
	t = t.Add(-time.Duration(off) * time.Second)
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, "timestamp " + quote(b) + " is outside years 1678 to 2262"
	}
	return t, ""
}

// digits parses an all-digit field.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// Range of unix milliseconds whose nanoseconds fit an int64.
const (
	maxMillis = math.MaxInt64 / 1000000
	minMillis = math.MinInt64 / 1000000
)

// parseMillis parses unix milliseconds: an integer, or a decimal number
// (fractions keep sub-millisecond precision, rounded to nanoseconds).
func parseMillis(b []byte) (time.Time, string) {
	if len(b) == 0 {
		return time.Time{}, "empty timestamp: " + rfc3339Hint
	}
	neg := b[0] == '-'
	s := b
	if neg {
		s = b[1:]
	}
	if ms, ok := digits(s); ok && len(s) > 0 && len(s) <= 18 {
		if neg {
			ms = -ms
		}
		if ms > maxMillis || ms < minMillis {
			return time.Time{}, "timestamp " + quote(b) + " ms is outside years 1678 to 2262"
		}
		return time.Unix(0, int64(ms)*1e6).UTC(), ""
	}
	ns, ok := decimalNanos(b)
	if !ok {
		return time.Time{}, "bad timestamp " + quote(b) + ": " + rfc3339Hint
	}
	if ns == math.MinInt64 || ns == math.MaxInt64 {
		return time.Time{}, "timestamp " + quote(b) + " ms is outside years 1678 to 2262"
	}
	return time.Unix(0, ns).UTC(), ""
}

// decimalNanos converts decimal milliseconds [-]D[.F][(e|E)[+-]X] exactly
// to nanoseconds, rounding half away from zero. Out-of-range values
// saturate to math.MinInt64 or math.MaxInt64.
func decimalNanos(b []byte) (int64, bool) {
	i := 0
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	intStart := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	intDigits := b[intStart:i]
	var fracDigits []byte
	if i < len(b) && b[i] == '.' {
		i++
		fs := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		fracDigits = b[fs:i]
	}
	if len(intDigits)+len(fracDigits) == 0 {
		return 0, false
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		eneg := false
		if i < len(b) && (b[i] == '-' || b[i] == '+') {
			eneg = b[i] == '-'
			i++
		}
		es := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if exp < 10000 {
				exp = exp*10 + int(b[i]-'0')
			}
			i++
		}
		if i == es {
			return 0, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(b) {
		return 0, false
	}
	// The value is D x 10^k ns, D the digits of int and fraction.
	k := exp - len(fracDigits) + 6
	n := len(intDigits) + len(fracDigits)
	digit := func(j int) uint64 {
		if j < len(intDigits) {
			return uint64(intDigits[j] - '0')
		}
		return uint64(fracDigits[j-len(intDigits)] - '0')
	}
	keep := n // digits kept before the decimal point of ns
	if k < 0 {
		keep = n + k
	}
	const limit = uint64(math.MaxInt64)
	var ns uint64
	over := false
	for j := 0; j < keep && j < n; j++ {
		d := digit(j)
		if ns > (limit-d)/10 {
			over = true
			break
		}
		ns = ns*10 + d
	}
	if !over && k > 0 && ns != 0 {
		for e := 0; e < k; e++ {
			if ns > limit/10 {
				over = true
				break
			}
			ns *= 10
		}
	}
	if !over && k < 0 && keep >= 0 && keep < n && digit(keep) >= 5 {
		ns++
		over = ns > limit
	}
	if over {
		if neg {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	if neg {
		return -int64(ns), true
	}
	return int64(ns), true
}

// isNumberChars reports whether b holds only characters of a decimal
// number (digits, sign, point, exponent), so that ParseFloat's extras
// (hex, "inf", underscores) are refused.
func isNumberChars(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// appendTime appends t in UTC as RFC 3339 with nanoseconds.
func appendTime(dst []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(dst, time.RFC3339Nano)
}
