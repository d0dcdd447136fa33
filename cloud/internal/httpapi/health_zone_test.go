package httpapi_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// A component's health history groups window starts by the hours or days
// of the time zone tz names (default UTC): a Berlin plant's day runs from
// its own midnight, an hour of a +05:30 zone starts at :30 UTC (its 04:00
// is 22:30Z), and each bucket's start is given in the zone's offset. The
// bucket cap counts the zone's calendar days; a name that is not an IANA
// zone is 400.
func TestComponentHealthTimeZone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	// 22:30Z and 23:30Z on 1 March 2025: one UTC day, two Berlin days
	// (23:30 and 00:30 at +01:00).
	r := e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(a.diagnosis(1, 630, 0.9), a.diagnosis(2, 690, 0.5)))
	require.Equal(t, 200, r.code, "%s", r.body)
	path := "/v1/rigs/" + a.rig + "/components/pump/health?from=2025-03-01T00:00:00Z&to=2025-03-03T00:00:00Z"
	starts := func(query string) []string {
		t.Helper()
		r := e.do("GET", path+query, a.viewer, nil)
		require.Equal(t, 200, r.code, "%s: %s", query, r.body)
		var h store.HealthHistory
		r.decode(t, &h)
		var out []string
		for _, b := range h.Buckets {
			out = append(out, b.Start.Format(time.RFC3339))
		}
		return out
	}
	assert.Equal(t, []string{"2025-03-01T00:00:00Z"}, starts("&bucket=1d"))
	assert.Equal(t, []string{"2025-03-01T00:00:00Z"}, starts("&bucket=1d&tz=UTC"))
	assert.Equal(t, []string{"2025-03-01T00:00:00+01:00", "2025-03-02T00:00:00+01:00"}, starts("&bucket=1d&tz="+url.QueryEscape("Europe/Berlin")))
	assert.Equal(t, []string{"2025-03-02T04:00:00+05:30", "2025-03-02T05:00:00+05:30"}, starts("&bucket=1h&tz="+url.QueryEscape("Asia/Kolkata")))
	assert.Equal(t, []string{"2025-03-01T22:00:00Z", "2025-03-01T23:00:00Z"}, starts("&bucket=1h"))

	base := "/v1/rigs/" + a.rig + "/components/pump/health"
	for _, tc := range []struct {
		query  string
		code   int
		detail string
	}{
		// 1 January 00:30 Berlin to 11 April 00:30 Berlin (after the
		// change to summer time: a 23-hour day) touches 101 Berlin days.
		{"?bucket=1d&tz=Europe%2FBerlin&from=2024-12-31T23:30:00Z&to=2025-04-10T22:30:00Z", 400, "more than 100 buckets of 1d (it touches 101 Europe/Berlin days)"},
		{"?bucket=1d&tz=Europe%2FBerlin&from=2024-12-31T23:30:00Z&to=2025-04-09T22:30:00Z", 200, ""},
		{"?bucket=1d&tz=Mars%2FOlympus", 400, `tz "Mars/Olympus" is not an IANA time zone name`},
		{"?bucket=1d&tz=Local", 400, `tz "Local" is not an IANA time zone name`},
	} {
		r := e.do("GET", base+tc.query, a.viewer, nil)
		require.Equal(t, tc.code, r.code, "%s: %s", tc.query, r.body)
		if tc.code == 400 {
			p := r.problem(t)
			assert.Equal(t, httpapi.ProblemInvalidParameter, p.Type)
			assert.Contains(t, p.Detail, tc.detail)
		}
	}
}
