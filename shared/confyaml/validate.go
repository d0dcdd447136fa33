package confyaml

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Validator collects the problems found validating one config, each at a
// key path, so that they are all reported together; Source.Place or
// Document.Place then says where each is. The zero value is ready to use.
type Validator struct {
	// Spec, when set, makes Required name the key's environment variable.
	Spec *Spec
	// Problems are the problems found, in the order found (nil: none).
	Problems []*FieldError
}

// Add records a problem at path.
func (v *Validator) Add(path, format string, args ...any) {
	v.Problems = append(v.Problems, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// OneOf checks that val is one of allowed.
func (v *Validator) OneOf(path, val string, allowed []string) {
	if slices.Contains(allowed, val) {
		return
	}
	q := make([]string, len(allowed))
	for i, a := range allowed {
		q[i] = strconv.Quote(a)
	}
	v.Add(path, "%q is not one of %s", val, strings.Join(q, ", "))
}

// IntIn checks that x is in [lo, hi].
func (v *Validator) IntIn(path string, x, lo, hi int) {
	if x < lo || x > hi {
		v.Add(path, "%d is out of range [%d, %d]", x, lo, hi)
	}
}

// DurationIn checks that d is in [lo, hi].
func (v *Validator) DurationIn(path string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.Add(path, "%s is out of range [%s, %s]", d, lo, hi)
	}
}

// SizeIn checks that b is in [lo, hi].
func (v *Validator) SizeIn(path string, b, lo, hi ByteSize) {
	if b < lo || b > hi {
		v.Add(path, "%s is out of range [%s, %s]", b, lo, hi)
	}
}

// Required checks that val is not blank, and reports whether it is set.
func (v *Validator) Required(path, val string) bool {
	if strings.TrimSpace(val) != "" {
		return true
	}
	if v.Spec != nil && v.Spec.EnvPrefix != "" {
		v.Add(path, "is required (set it in the file or in %s)", v.Spec.EnvName(path))
	} else {
		v.Add(path, "is required")
	}
	return false
}

// HostPort checks that addr is host:port with a port in [0, 65535]; the
// host may be empty (every interface).
func (v *Validator) HostPort(path, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.Add(path, "%q is not host:port (%v)", addr, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.Add(path, "%q: port %q is not a number in [0, 65535]", addr, port)
	}
}
