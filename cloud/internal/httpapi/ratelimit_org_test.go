package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// An organisation's credentials share a bucket: ten tokens of one
// organisation do not get ten times its rate, and another organisation
// is not slowed (review r2 F5: 10 tokens, burst 2 each, got 20 of 20
// through at once).
func TestRateLimitPerOrganisation(t *testing.T) {
	e := newEnv(t, httpapi.Options{RateLimit: 1, RateBurst: 2, OrgRateLimit: 0.001, OrgRateBurst: 10})
	a := e.tenant("alpha")
	ctx := context.Background()
	b, err := e.st.CreateOrg(ctx, "beta", "Beta") // the system token's burst is spent
	require.NoError(t, err)
	ok, org429 := 0, 0
	for i := range 10 {
		_, sec, err := e.st.CreateToken(ctx, a.orgID, fmt.Sprintf("t%d", i), store.RoleViewer, time.Time{})
		require.NoError(t, err)
		for range 2 {
			r := e.do("GET", "/v1/rigs", sec, nil)
			switch r.code {
			case 200:
				ok++
			case 429:
				assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
				if strings.Contains(string(r.body), "this organisation") {
					org429++
				}
			}
		}
	}
	// The tenant's setup took a few of alpha's 10; the rest went to the
	// first requests, then the organisation's bucket refused.
	assert.True(t, ok >= 1 && ok <= 8, "%d requests of one organisation got through, burst 10", ok)
	assert.Equal(t, 20-ok, org429)
	// Another organisation has its own.
	_, bsec, err := e.st.CreateToken(ctx, b.ID, "b", store.RoleViewer, time.Time{})
	require.NoError(t, err)
	assert.Equal(t, 200, e.do("GET", "/v1/rigs", bsec, nil).code)
	r := e.do("GET", "/metrics", "", nil)
	require.Equal(t, 200, r.code)
	assert.Contains(t, string(r.body), fmt.Sprintf(`rig_cloud_http_rate_limited_total{scope="organisation"} %d`, org429))
}

// An organisation's live tokens are capped (quotas.max_live_tokens):
// past it a new token is 409 quota-exceeded; revoked and expired ones do
// not count.
func TestLiveTokenQuota(t *testing.T) {
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha") // an admin, an operator, a viewer
	ctx := context.Background()
	_, _, err := e.st.CreateToken(ctx, a.orgID, "old", store.RoleViewer, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	e.st.SetQuotas(store.Quotas{MaxLiveTokens: 4})
	path := fmt.Sprintf("/v1/orgs/%d/tokens", a.orgID)
	var tr fleetapi.TokenResponse
	r := e.do("POST", path, a.admin, fleetapi.TokenRequest{Name: "fourth", Role: "viewer"})
	require.Equal(t, 201, r.code, "%s", r.body)
	r.decode(t, &tr)
	r = e.do("POST", path, a.admin, fleetapi.TokenRequest{Name: "fifth", Role: "viewer"})
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemQuotaExceeded, p.Type)
	assert.Contains(t, p.Detail, "quotas.max_live_tokens")
	r = e.do("POST", path, e.system, fleetapi.TokenRequest{Name: "fifth", Role: "viewer"})
	assert.Equal(t, 409, r.code, "the system token too")
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", tr.Token.ID), a.admin, nil).code)
	assert.Equal(t, 201, e.do("POST", path, a.admin, fleetapi.TokenRequest{Name: "fifth", Role: "viewer"}).code)
	r = e.do("GET", "/metrics", "", nil)
	assert.Contains(t, string(r.body), `rig_cloud_quota_refusals_total{quota="quotas.max_live_tokens"} 2`)
}
