package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/unitfiletest"
)

// The unit's memory policy matches the agent's (review r3 finding 7):
// GOMEMLIMIT below MemoryHigh, so the Go collector works harder before
// the kernel throttles; OOMPolicy=continue, so the OOM killer taking a
// codec plugin does not stop the unit. And no LogsDirectory=, which
// nothing writes (finding 12); docs/jetson.md says how to cap the
// journal, where the logs go.
func TestUnitMemoryAndLogs(t *testing.T) {
	u := unitfiletest.Read(t, agentUnit)
	var limit string
	for _, e := range u.Values("Environment") {
		if v, ok := strings.CutPrefix(e, "GOMEMLIMIT="); ok {
			limit = v
		}
	}
	require.NotEmpty(t, limit, "Environment=GOMEMLIMIT=")
	high := u.Values("MemoryHigh")
	require.Len(t, high, 1)
	gl, mh := unitBytes(t, limit), unitBytes(t, high[0])
	assert.Less(t, gl, mh, "GOMEMLIMIT %s below MemoryHigh %s", limit, high[0])
	assert.Greater(t, gl, mh/2, "GOMEMLIMIT %s not far below MemoryHigh %s", limit, high[0])
	assert.Equal(t, []string{"continue"}, u.Values("OOMPolicy"))
	assert.Empty(t, u.Values("LogsDirectory"), "nothing writes /var/log/rig-agent: the agent logs to the journal")

	docs, err := os.ReadFile("../../../docs/jetson.md")
	require.NoError(t, err)
	assert.Contains(t, string(docs), "SystemMaxUse=", "docs/jetson.md caps the journal")
}

// unitBytes parses a size as systemd (768M, 1G: base 1024) or
// GOMEMLIMIT (640MiB) write it.
func unitBytes(t *testing.T, s string) int64 {
	t.Helper()
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"MiB", 1 << 20}, {"GiB", 1 << 30}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			require.NoError(t, err, s)
			return v * u.mult
		}
	}
	t.Fatalf("size %q: want a number with M, G, MiB or GiB", s)
	return 0
}
