package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// GET /v1/alerts lists oldest first by default (as before order=) and
// newest first with order=newest; both page on with next_cursor in their
// order, with or without state.
func TestAlertsOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	d := a.diagnosis(1, 0, 0.2)
	d.Anomalies = nil
	for _, comp := range []string{"pump", "valve", "cooler"} {
		d.Anomalies = append(d.Anomalies, diag.Anomaly{Fault: "leakage", Severity: diag.SeverityHigh, Confidence: 0.8, Components: []string{comp}})
	}
	r := e.do("POST", cloudapi.PathDiagnoses, a.cred, a.batch(d))
	require.Equal(t, 200, r.code, "%s", r.body)

	ids := func(path string) ([]int64, string) {
		t.Helper()
		r := e.do("GET", path, a.viewer, nil)
		require.Equal(t, 200, r.code, "%s: %s", path, r.body)
		var p fleetapi.Page[fleetapi.Alert]
		r.decode(t, &p)
		var out []int64
		for _, al := range p.Items {
			out = append(out, al.ID)
		}
		return out, p.NextCursor
	}
	all, _ := ids("/v1/alerts")
	require.Len(t, all, 3)
	assert.Less(t, all[0], all[1])
	assert.Less(t, all[1], all[2])
	for _, q := range []string{"", "&state=open"} {
		first, next := ids("/v1/alerts?order=newest&limit=2" + q)
		assert.Equal(t, []int64{all[2], all[1]}, first, q)
		require.NotEmpty(t, next, q)
		rest, _ := ids("/v1/alerts?order=newest&limit=2&cursor=" + next + q)
		assert.Equal(t, []int64{all[0]}, rest, q)
		old, _ := ids("/v1/alerts?order=oldest&limit=2" + q)
		assert.Equal(t, all[:2], old, q)
	}
	r = e.do("GET", "/v1/alerts?order=desc", a.viewer, nil)
	require.Equal(t, 400, r.code)
	assert.Contains(t, r.problem(t).Detail, `order "desc" is not oldest or newest`)
}
