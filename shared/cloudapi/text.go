package cloudapi

import (
	"strings"
	"unicode/utf8"
)

// ClipText returns s as valid UTF-8 of at most n bytes: invalid bytes
// become U+FFFD first (as encoding/json writes them), then s is cut at a
// rune boundary. A text clipped to MaxTextLen this way passes the
// validators' length check also after a JSON round trip; one cut at a
// byte count may split a character, whose stray bytes JSON turns into
// three bytes each.
func ClipText(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	n = max(n, 0)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
