package httpapi_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// slowBody opens a connection that sends path a gzip, chunked body with
// token that never finishes. The returned flag turns true when the
// server answers. The connection closes at cleanup.
func slowBody(t *testing.T, e *env, path, token string) *atomic.Bool {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\n"+
		"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", path, token)
	require.NoError(t, err)
	var answered atomic.Bool
	go func() {
		if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			_ = res.Body.Close()
			answered.Store(true)
		}
	}()
	return &answered
}

// Request bodies that have not authenticated never hold the body budget:
// slow, never-finished gzip bodies sent with a garbage credential or an
// enrollment token that does not exist (to enroll, and to the
// authenticated routes) are refused before their bodies are read, and an
// authenticated request with a body still gets through. The budget was
// reserved before authentication, and enroll read the body before it
// checked its token: such connections held the whole budget, and the
// authenticated request got 503.
func TestBodyBudgetAfterAuthentication(t *testing.T) {
	t.Parallel()
	const maxBody = 1 << 20
	e := newEnv(t, httpapi.Options{MaxBodyBytes: maxBody, MaxBodyInflightBytes: 2 * maxBody})
	fake, _ := store.NewSecret(store.PrefixEnrollment)
	var slow []*atomic.Bool
	for _, tok := range []string{"garbage", fake} {
		for _, path := range []string{"/v1/agent/enroll", "/v1/agent/checkin", "/v1/orgs"} {
			slow = append(slow, slowBody(t, e, path, tok))
		}
	}
	// Each is answered (refused) or holds the budget.
	for i, a := range slow {
		for !a.Load() && e.metric("rig_cloud_http_body_budget_bytes") == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("slow body %d answered: %v", i, a.Load())
	}

	r := e.do("POST", "/v1/orgs", e.system, fleetapi.OrgRequest{Slug: "alpha", Name: "A"})
	require.Equal(t, 201, r.code, "%s", r.body)
	for i, a := range slow {
		assert.True(t, a.Load(), "slow body %d was refused before its body", i)
	}
	assert.Zero(t, e.metric("rig_cloud_http_body_budget_rejected_total"))
}
