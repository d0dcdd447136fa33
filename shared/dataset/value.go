package dataset

import (
	"errors"
	"fmt"
	"strconv"
)

// ParseValue parses one value of a data-set file (a UCI matrix cell, a
// SKAB column): a decimal number in the float64 range. An empty value,
// NaN, infinities and ParseFloat's hex and underscore forms are errors;
// each error quotes the value (Quote).
func ParseValue(f []byte) (float64, error) {
	if len(f) == 0 {
		return 0, errors.New("empty value")
	}
	if !isDecimal(f) {
		return 0, fmt.Errorf("%s is not a decimal number", Quote(f))
	}
	v, err := strconv.ParseFloat(string(f), 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is out of the float64 range", Quote(f))
	}
	if err != nil {
		return 0, fmt.Errorf("%s is not a decimal number", Quote(f))
	}
	return v, nil
}

// isDecimal reports whether f holds only characters of a decimal number,
// refusing ParseFloat's hex, inf, nan and underscore forms.
func isDecimal(f []byte) bool {
	for _, c := range f {
		if !(c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
			return false
		}
	}
	return true
}

// Quote quotes a value of a data-set file for an error message, cut
// after 40 bytes.
func Quote(b []byte) string {
	if len(b) > 40 {
		return strconv.Quote(string(b[:40])) + "..."
	}
	return strconv.Quote(string(b))
}
