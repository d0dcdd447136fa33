package confyaml

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// ByteSize is a size in bytes. In YAML and the environment it is an
// integer (bytes) or a number with a unit: B, KB, MB, GB, TB (powers of
// 1000) or KiB, MiB, GiB, TiB (powers of 1024), e.g. 512MiB, 1.5GB.
type ByteSize int64

// Byte size units.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var byteUnits = []struct {
	suffix string
	mult   float64
}{
	// Longest suffixes first, so that "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"B", 1},
}

// ParseByteSize reads a size as ByteSize documents it.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		return ByteSize(n), nil
	}
	for _, u := range byteUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || strings.TrimSpace(num) == "" {
			break
		}
		if x < 0 {
			return 0, fmt.Errorf("%q is negative", s)
		}
		v := x * u.mult
		if v >= math.MaxInt64 {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return ByteSize(math.Round(v)), nil
	}
	return 0, fmt.Errorf("%q is not a byte size (want bytes or a number with B, KB, MB, GB, TB, KiB, MiB, GiB or TiB, e.g. 512MiB)", s)
}

// String formats the size with the largest binary unit that divides it
// (e.g. "64MiB"), else in bytes.
func (b ByteSize) String() string {
	for _, u := range []struct {
		s string
		m ByteSize
	}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}} {
		if b != 0 && b%u.m == 0 {
			return strconv.FormatInt(int64(b/u.m), 10) + u.s
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// UnmarshalYAML decodes a ByteSize from an integer or a string with a
// unit; its error carries the value's position.
func (b *ByteSize) UnmarshalYAML(node ast.Node) error {
	tk := node.GetToken()
	if tk == nil {
		return &posError{msg: "a byte size is missing"}
	}
	switch node.(type) {
	case *ast.IntegerNode, *ast.StringNode, *ast.FloatNode, *ast.LiteralNode:
	default:
		return &posError{tk: tk, msg: fmt.Sprintf("%q is not a byte size (want e.g. 512MiB)", tk.Value)}
	}
	v, err := ParseByteSize(tk.Value)
	if err != nil {
		return &posError{tk: tk, msg: err.Error()}
	}
	*b = v
	return nil
}

// MarshalYAML writes the size as String does.
func (b ByteSize) MarshalYAML() ([]byte, error) { return []byte(b.String()), nil }

// posError is a decoding error at a token, reported with its position.
type posError struct {
	tk  *token.Token
	msg string
}

func (e *posError) Error() string { return e.msg }

// GetToken returns where the error is (nil: unknown).
func (e *posError) GetToken() *token.Token { return e.tk }
