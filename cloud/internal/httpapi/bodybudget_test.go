package httpapi_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Request bodies in flight are capped (server.max_body_inflight_bytes):
// a body that finds the budget held by others waits, then gets 503
// problem+json with Retry-After, and gets through once they are done;
// requests without a body are not held back. Without the cap, every
// request buffered its body (and a gzip body's decoded copy) at once.
func TestBodyBudget(t *testing.T) {
	const maxBody = 4 << 20
	e := newEnv(t, httpapi.Options{MaxBodyBytes: maxBody, MaxBodyInflightBytes: maxBody})
	assert.Equal(t, float64(maxBody), e.metric("rig_cloud_http_body_budget_limit_bytes"))

	// A body without a length may be max_body_bytes: it holds the whole
	// budget while it arrives.
	pr, pw := io.Pipe()
	req, err := http.NewRequest("POST", e.srv.URL+"/v1/orgs", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.system)
	req.Header.Set("Content-Type", cloudapi.MediaJSON)
	first := make(chan int, 1)
	go func() {
		res, err := e.srv.Client().Do(req)
		if err != nil {
			first <- -1
			return
		}
		_ = res.Body.Close()
		first <- res.StatusCode
	}()
	for e.metric("rig_cloud_http_body_budget_bytes") != maxBody {
		time.Sleep(10 * time.Millisecond)
	}

	r := e.do("POST", "/v1/orgs", e.system, fleetapi.OrgRequest{Slug: "beta", Name: "B"})
	require.Equal(t, 503, r.code, "%s", r.body)
	assert.Equal(t, "1", r.header.Get(cloudapi.HeaderRetryAfter))
	assert.Equal(t, cloudapi.MediaProblem, r.header.Get("Content-Type"))
	p := r.problem(t)
	assert.Equal(t, cloudapi.ProblemUnavailable, p.Type)
	assert.Contains(t, p.Detail, "server.max_body_inflight_bytes")
	assert.Equal(t, 1.0, e.metric("rig_cloud_http_body_budget_rejected_total"))

	// No body, no wait.
	assert.Equal(t, 200, e.do("GET", "/v1/orgs", e.system, nil).code)

	_, _ = pw.Write([]byte(`{"slug":"alpha","name":"A"}`))
	require.NoError(t, pw.Close())
	assert.Equal(t, 201, <-first)
	assert.Zero(t, e.metric("rig_cloud_http_body_budget_bytes"), "the budget is given back")

	r = e.do("POST", "/v1/orgs", e.system, fleetapi.OrgRequest{Slug: "beta", Name: "B"})
	assert.Equal(t, 201, r.code, "%s", r.body)
}
