package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
)

// A component health history aggregates at most 1000 hourly or 100 daily
// buckets: a longer range is 400 before any diagnosis is read.
func TestComponentHealthRangeBounded(t *testing.T) {
	t.Parallel()
	checkHealthRanges(t, []healthRange{
		{"?bucket=1d&from=2025-01-01T00:00:00Z&to=2025-04-11T00:00:00Z", 200, ""}, // 100 days
		{"?bucket=1d&from=2025-01-01T00:00:00Z&to=2025-04-11T00:00:01Z", 400, "more than 100 buckets of 1d"},
		{"?bucket=1d&from=2022-01-01T00:00:00Z&to=2024-09-27T00:00:00Z", 400, "more than 100 buckets of 1d"}, // 1000 days
		{"?bucket=1h&from=2025-01-01T00:00:00Z&to=2025-02-11T16:00:00Z", 200, ""},                            // 1000 hours
		{"?bucket=1h&from=2025-01-01T00:00:00Z&to=2025-02-11T16:00:01Z", 400, "more than 1000 buckets of 1h"},
	})
}

// healthRange is a component health query and the answer expected: its
// status and, for a 400, part of the problem's detail.
type healthRange struct {
	query  string
	code   int
	detail string
}

// checkHealthRanges asks a new tenant's rig for its pump's health history
// with each query and checks the answers.
func checkHealthRanges(t *testing.T, queries []healthRange) {
	t.Helper()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	path := "/v1/rigs/" + a.rig + "/components/pump/health"
	for _, tc := range queries {
		r := e.do("GET", path+tc.query, a.viewer, nil)
		require.Equal(t, tc.code, r.code, "%s: %s", tc.query, r.body)
		if tc.code == 400 {
			p := r.problem(t)
			assert.Equal(t, httpapi.ProblemInvalidParameter, p.Type)
			assert.Contains(t, p.Detail, tc.detail)
		}
	}
}
