package jobs

import (
	"strings"
	"testing"
)

// A seed above pipeline.MaxSeed (2^63-1) is refused naming config.seed:
// the bundle manifest records the seed as a signed 64-bit integer, and
// pipeline.Train would fail the job after loading its data.
func TestParseConfigSeedRange(t *testing.T) {
	c, err := ParseConfig([]byte(`{"seed":9223372036854775807}`))
	if err != nil || c.Seed != 1<<63-1 {
		t.Fatalf("largest seed: %+v, %v", c, err)
	}
	for _, raw := range []string{`{"seed":9223372036854775808}`, `{"seed":18446744073709551615}`} {
		_, err := ParseConfig([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), "config.seed") || !strings.Contains(err.Error(), "9223372036854775807") {
			t.Errorf("%s: got %v, want an error naming config.seed and the maximum", raw, err)
		}
	}
}
