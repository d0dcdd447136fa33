package rigctl

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Every --seed flag that reaches a trainer refuses seeds above
// pipeline.MaxSeed (2^63-1) while the flags are parsed: a usage error
// naming the flag and the maximum, before any data is read or any request
// sent (the manifest records the seed as a signed 64-bit integer).
func TestSeedFlagRange(t *testing.T) {
	// Were the flag accepted, jobs create would send its request here
	// and fail (ExitFailure), not stop at the flag (ExitUsage).
	t.Setenv(EnvServer, "http://127.0.0.1:1")
	t.Setenv(EnvToken, "rigctl-test-token")
	data := t.TempDir()
	out := t.TempDir()
	for _, seed := range []string{"9223372036854775808", "18446744073709551615", "-1", "x"} {
		for _, args := range [][]string{
			{"train", "--rig", zemaRig, "--data", "uci:" + data, "--out", out, "--seed", seed},
			{"bench", "uci", "--train", data, "--test", data, "--rig", zemaRig, "--seed", seed},
			{"bench", "skab", "--data", data, "--seed", seed},
			{"jobs", "create", "--dataset", "1", "--seed", seed},
		} {
			code, _, errOut := run(t, args...)
			assert.Equal(t, ExitUsage, code, "%v: %s", args, errOut)
			assert.Contains(t, errOut, "-seed", "%v", args)
			assert.Contains(t, errOut, "0..9223372036854775807", "%v", args)
		}
	}
	// The largest seed passes the flag (and fails later on the empty
	// folder, not as a usage error).
	code, _, errOut := run(t, "train", "--rig", zemaRig, "--data", "uci:"+data, "--out", out, "--seed", "9223372036854775807")
	assert.Equal(t, ExitFailure, code, errOut)
	assert.NotContains(t, errOut, "0..9223372036854775807")
}
