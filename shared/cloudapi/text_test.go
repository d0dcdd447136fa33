package cloudapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClipText(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		n              int
	}{
		{"short", "abc", "abc", 4},
		{"exact", "abcd", "abcd", 4},
		{"ascii", "abcdef", "abcd", 4},
		{"inside a rune", "ab€cd", "ab", 4}, // € is 3 bytes: 2-4
		{"after a rune", "ab€cd", "ab€", 5},
		{"invalid bytes", "a\xffb", "a\uFFFDb", 10},
		{"invalid then cut", "a\xffbcdef", "a\uFFFD", 4},
		{"zero", "abc", "", 0},
		{"negative", "abc", "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ClipText(tc.in, tc.n))
		})
	}
}

// A text clipped to MaxTextLen passes the check-in's validation after a
// JSON round trip (a cut at the byte count split the last character,
// which JSON turned into U+FFFDs, and the cloud refused the check-in).
func TestClipTextSurvivesJSON(t *testing.T) {
	long := strings.Repeat("x", MaxTextLen-1) + "€ and more"
	for _, in := range []string{long, strings.Repeat("\xff", MaxTextLen)} {
		s := ClipText(in, MaxTextLen)
		require.True(t, utf8.ValidString(s))
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var back string
		require.NoError(t, json.Unmarshal(b, &back))
		assert.LessOrEqual(t, len(back), MaxTextLen)
	}
}
