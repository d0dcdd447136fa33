package httpapi

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// What a request reserves of the body budget: its length, the most a
// gzip body decodes to besides, at most the whole budget, and nothing
// for requests whose body is not buffered.
func TestBodyBudgetCost(t *testing.T) {
	const maxBody, size = 4 << 20, 6 << 20
	b := &bodyBudget{size: size, maxBody: maxBody}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	var got int64
	h := func(c *gin.Context) { got = b.cost(c) }
	e.POST("/v1/orgs", h)
	e.GET("/v1/orgs", h)
	e.PUT("/v1/datasets/:id/archive", h)
	e.POST("/v1/releases", h)
	for _, tc := range []struct {
		method, path string
		length       int64 // -1: unknown (chunked)
		gzip         bool
		want         int64
	}{
		{"POST", "/v1/orgs", 1000, false, 1000},
		{"POST", "/v1/orgs", 1000, true, 1000 + maxBody},
		{"POST", "/v1/orgs", -1, false, maxBody},
		{"POST", "/v1/orgs", -1, true, size}, // 8MiB, capped at the budget
		{"POST", "/v1/orgs", 0, false, 0},
		{"POST", "/v1/orgs", maxBody + 1, false, 0}, // 413 unread
		{"GET", "/v1/orgs", 1000, false, 0},
		{"PUT", "/v1/datasets/7/archive", 1 << 30, false, 0},
		{"POST", "/v1/releases", -1, false, 0},
	} {
		got = -1
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader("x"))
		req.ContentLength = tc.length
		if tc.gzip {
			req.Header.Set("Content-Encoding", " GZIP")
		}
		e.ServeHTTP(httptest.NewRecorder(), req)
		if got != tc.want {
			t.Errorf("%s %s length %d gzip %v: cost %d, want %d", tc.method, tc.path, tc.length, tc.gzip, got, tc.want)
		}
	}
}

// Every route the budget leaves out is a route of the API: a renamed
// streaming route would otherwise hold a reservation for its whole
// upload.
func TestStreamedRoutesExist(t *testing.T) {
	a := New(nil, nil, Options{})
	routes := map[string]bool{}
	for _, r := range a.engine.Routes() {
		routes[r.Method+" "+r.Path] = true
	}
	for r := range streamedRoutes {
		if !routes[r] {
			t.Errorf("streamedRoutes names %q, which is no route", r)
		}
	}
}
