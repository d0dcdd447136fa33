package rigctl

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rigctl rigs health --tz asks for the buckets of a time zone and shows
// their starts in its offset: seedFleet's windows at 11:59Z and 12:59Z
// are the 17:00 and 18:00 hours of a +05:30 zone (which start at :30
// UTC); a zone name the server does not know is its 400.
func TestRigsHealthTimeZone(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	rigctlEnv(t, s.URL, admin)
	code, stdout, stderr := run(t, "rigs", "health", "zema-1", "pump", "--tz", "Asia/Kolkata",
		"--from", "2025-03-01T00:00:00Z", "--to", "2025-03-02T00:00:00Z")
	require.Equal(t, ExitOK, code, stderr)
	assert.Regexp(t, `^START\s+WINDOWS\s+UNKNOWN\s+MISSING\s+AVG HEALTH\s+MIN HEALTH\s+WORST STATUS\n`+
		`2025-03-01T17:00:00\+05:30\s+1\s.*\n2025-03-01T18:00:00\+05:30\s+1\s.*\n$`, stdout)

	code, _, stderr = run(t, "rigs", "health", "zema-1", "pump", "--tz", "Mars/Olympus")
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, `tz "Mars/Olympus" is not an IANA time zone name`)
}
