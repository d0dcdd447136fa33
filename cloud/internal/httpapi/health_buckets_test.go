package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
)

// The bucket cap counts the UTC hours or days a range touches, as the SQL
// groups window starts, not its length: 100 days from 00:30 touch 101
// days.
func TestComponentHealthCapCountsBuckets(t *testing.T) {
	t.Parallel()
	checkHealthRanges(t, []healthRange{
		{"?bucket=1d&from=2025-01-01T00:30:00Z&to=2025-04-11T00:30:00Z", 400, "more than 100 buckets of 1d (it touches 101 UTC days)"},
		{"?bucket=1d&from=2025-01-01T00:30:00Z&to=2025-04-10T00:30:00Z", 200, ""}, // Jan 1 to Apr 10: 100 days
		{"?bucket=1d&from=2025-01-01T00:30:00Z&to=2025-04-11T00:00:00Z", 200, ""}, // to's day not touched
		{"?bucket=1d&from=2025-01-01T23:59:59Z&to=2025-04-10T00:00:01Z", 200, ""}, // 98 days long, 100 touched
		{"?bucket=1h&from=2025-01-01T00:30:00Z&to=2025-02-11T16:30:00Z", 400, "more than 1000 buckets of 1h (it touches 1001 UTC hours)"},
		{"?bucket=1h&from=2025-01-01T00:30:00Z&to=2025-02-11T15:30:00Z", 200, ""}, // 1000 hours touched
	})
}

// A '+' of a time zone offset sent unencoded arrives as a space (form
// decoding): it is read as the '+' it was; other bad times are still 400.
func TestTimeParamUnencodedPlus(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	base := "/v1/rigs/" + a.rig
	for _, q := range []string{
		"/diagnoses?from=2025-03-01T00:00:00+02:00&to=2025-03-02T00:00:00Z",
		"/diagnoses?from=2025-03-01T00:00:00%2B02:00&to=2025-03-02T00:00:00+05:30",
		"/components/pump/health?from=2025-03-01T00:00:00+02:00&to=2025-03-02T00:00:00+02:00",
	} {
		r := e.raw("GET", base+q, a.viewer, "", nil)
		assert.Equal(t, 200, r.code, "%s: %s", q, r.body)
	}
	r := e.raw("GET", base+"/diagnoses?from=2025-03-01%2000:00:00Z", a.viewer, "", nil)
	require.Equal(t, 400, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "is not an RFC 3339 time")
}
