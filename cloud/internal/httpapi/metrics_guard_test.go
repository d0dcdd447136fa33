package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// /metrics shows every organisation's activity: on the API's listener it
// answers only a loopback peer without a proxy's forwarding header, or
// the configured metrics token (review r2 F4: anyone on the internet read
// it).
func TestMetricsGuarded(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	require.Equal(t, 200, e.gz(cloudapi.PathDiagnoses, a.cred, a.batch(a.diagnosis(1, 0, 0.9))).code)
	r := e.do("GET", "/metrics", "", nil)
	require.Equal(t, 200, r.code, "a loopback scrape")
	assert.Contains(t, string(r.body), `rig_cloud_diagnoses_total{status="accepted"} 1`)
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"} {
		r = e.raw("GET", "/metrics", "", "", nil, h, "203.0.113.9")
		assert.Equal(t, 403, r.code, "relayed by a proxy (%s)", h)
		assert.NotContains(t, string(r.body), "rig_cloud_diagnoses_total")
	}
	// A peer that is not loopback (the internet, straight to the API).
	api := httpapi.New(e.st, nil, httpapi.Options{Metrics: true})
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "203.0.113.9:4711"
	w := httptest.NewRecorder()
	api.ServeHTTP(w, req)
	assert.Equal(t, 403, w.Code)
	assert.NotContains(t, w.Body.String(), "rig_cloud_")

	// With a metrics token: only its bearer, from anywhere.
	tok := httpapi.New(e.st, nil, httpapi.Options{Metrics: true, MetricsToken: "scrape-secret"})
	for _, c := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Bearer " + a.admin, 401}, {"Bearer scrape-secret", 200}} {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = "203.0.113.9:4711"
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		w := httptest.NewRecorder()
		tok.ServeHTTP(w, req)
		assert.Equal(t, c.want, w.Code, c.auth)
		assert.Equal(t, c.want == 200, strings.Contains(w.Body.String(), "rig_cloud_http_requests_total"), c.auth)
	}
	// MetricsHandler, for a private listener, has no guard.
	w = httptest.NewRecorder()
	tok.MetricsHandler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	assert.Equal(t, http.StatusOK, w.Code)
}
