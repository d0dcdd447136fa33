package codec

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds the nesting of JSON values a decoder skips.
const maxDepth = 32

// scanner is a small JSON tokenizer over one payload. It allocates nothing
// on valid input; its errors carry byte offsets.
type scanner struct {
	b      []byte
	i      int
	keyBuf [6 * maxKeyLen]byte // an unescaped object key (keyName)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// found describes what is at the current position, for error messages.
func (s *scanner) found() string {
	if s.i >= len(s.b) {
		return "end of payload"
	}
	c := s.b[s.i]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return "byte " + strconv.Itoa(int(c))
}

// expect consumes c (after white space).
func (s *scanner) expect(c byte, field string) *Error {
	if s.peek() != c {
		return perr(s.i, field, "want %q, found %s", c, s.found())
	}
	s.i++
	return nil
}

// end checks that only white space is left.
func (s *scanner) end() *Error {
	if s.peek() != 0 || s.i < len(s.b) {
		return perr(s.i, "", "unexpected %s after the JSON value", s.found())
	}
	return nil
}

// str scans a string at the current position and returns its raw content
// (between the quotes) and whether it holds escapes.
func (s *scanner) str(field string) ([]byte, bool, *Error) {
	if s.peek() != '"' {
		return nil, false, perr(s.i, field, "want a string, found %s", s.found())
	}
	open := s.i
	s.i++
	start := s.i
	esc := false
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(raw) {
				return nil, false, perr(open, field, "string is not valid UTF-8")
			}
			return raw, esc, nil
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				s.i++
				return nil, false, perr(s.i, field, "unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex4(s.b[s.i+2:s.i+6]) {
					return nil, false, perr(s.i, field, "bad \\u escape: want 4 hex digits")
				}
				s.i += 6
			default:
				return nil, false, perr(s.i, field, "bad escape \\%c", s.b[s.i+1])
			}
		case c < 0x20:
			return nil, false, perr(s.i, field, "control character %#02x in string (escape it)", c)
		default:
			if c >= 0x80 {
				ascii = false
			}
			s.i++
		}
	}
	return nil, false, perr(open, field, "unterminated string")
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}

// unescape appends the content of a string scanned by str (so its escapes
// are well formed) to dst. Unpaired surrogates become U+FFFD.
func unescape(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch raw[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(raw[i+2:])
			i += 6
			if r >= 0xD800 && r < 0xDC00 {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if r2 := hex4(raw[i+2:]); r2 >= 0xDC00 && r2 < 0xE000 {
						r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
						i += 6
						dst = utf8.AppendRune(dst, r)
						continue
					}
				}
				r = utf8.RuneError
			} else if r >= 0xDC00 && r < 0xE000 {
				r = utf8.RuneError
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, raw[i+1])
		}
		i += 2
	}
	return dst
}

// num scans a number and returns its text and whether it is an integer
// literal (no fraction, no exponent).
func (s *scanner) num(field string) ([]byte, bool, *Error) {
	s.ws()
	start := s.i
	b := s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return nil, false, perr(start, field, "want a number, found %s", s.found())
	}
	integer := true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, perr(i, field, "bad number: no digit after '.'")
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false, perr(i, field, "bad number: no digit in exponent")
		}
	}
	s.i = i
	return b[start:i], integer, nil
}

// float scans a number as a finite float64.
func (s *scanner) float(field string) (float64, *Error) {
	start := s.peekPos()
	raw, _, err := s.num(field)
	if err != nil {
		if s.i < len(s.b) && s.b[s.i] == 'n' {
			return 0, perr(start, field, "null is not a value (send quality 2, bad, instead)")
		}
		return 0, err
	}
	v, perr2 := strconv.ParseFloat(string(raw), 64)
	if perr2 != nil || math.IsInf(v, 0) {
		return 0, perr(start, field, "number %s is out of the float64 range", quote(raw))
	}
	return v, nil
}

// uint scans a non-negative integer no larger than max.
func (s *scanner) uint(field string, max uint64) (uint64, *Error) {
	start := s.peekPos()
	raw, integer, err := s.num(field)
	if err != nil {
		return 0, err
	}
	if !integer || raw[0] == '-' {
		return 0, perr(start, field, "want an integer from 0 to %d, found %s", max, quote(raw))
	}
	var n uint64
	for _, c := range raw {
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, perr(start, field, "integer %s is larger than %d", quote(raw), max)
		}
		n = n*10 + d
	}
	if n > max {
		return 0, perr(start, field, "integer %s is larger than %d", quote(raw), max)
	}
	return n, nil
}

func (s *scanner) peekPos() int {
	s.ws()
	return s.i
}

// lit scans true, false or null.
func (s *scanner) lit(field string) *Error {
	for _, w := range [...]string{"true", "false", "null"} {
		if len(s.b)-s.i >= len(w) && string(s.b[s.i:s.i+len(w)]) == w {
			s.i += len(w)
			return nil
		}
	}
	return perr(s.i, field, "want a JSON value, found %s", s.found())
}

// skip scans and discards one value of any kind, nested at most maxDepth
// deep, without recursion.
func (s *scanner) skip(field string) *Error {
	var stack [maxDepth]byte
	depth := 0
	for {
		// Scan one value; containers push and continue with their first
		// element.
		switch c := s.peek(); c {
		case '{', '[':
			if depth == maxDepth {
				return perr(s.i, field, "nested deeper than %d levels", maxDepth)
			}
			s.i++
			closer := byte('}')
			if c == '[' {
				closer = ']'
			}
			if s.peek() == closer {
				s.i++
				break
			}
			stack[depth] = closer
			depth++
			if c == '{' {
				if err := s.key(field); err != nil {
					return err
				}
			}
			continue
		case '"':
			if _, _, err := s.str(field); err != nil {
				return err
			}
		case 't', 'f', 'n':
			if err := s.lit(field); err != nil {
				return err
			}
		default:
			if _, _, err := s.num(field); err != nil {
				return err
			}
		}
		// After a value: close containers, or move to the next element.
	after:
		for depth > 0 {
			switch c := s.peek(); c {
			case ',':
				s.i++
				if stack[depth-1] == '}' {
					if err := s.key(field); err != nil {
						return err
					}
				}
				break after
			case stack[depth-1]:
				s.i++
				depth--
			default:
				return perr(s.i, field, "want ',' or %q, found %s", stack[depth-1], s.found())
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// key scans an object key and the colon after it.
func (s *scanner) key(field string) *Error {
	if _, _, err := s.str(field); err != nil {
		return err
	}
	return s.expect(':', field)
}
