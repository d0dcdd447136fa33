package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// unknownToken is a well-formed API token that no row holds: its lookup
// goes to the database.
func unknownToken(i int) string { return fmt.Sprintf("%s%043d", store.PrefixToken, i) }

// lockTokens holds an exclusive lock on api_tokens until the returned
// function (also run at cleanup) releases it: every token lookup waits
// for it meanwhile.
func lockTokens(t *testing.T, e *env) (release func()) {
	t.Helper()
	tx, err := e.st.Pool().Begin(context.Background())
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), "LOCK TABLE api_tokens IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	t.Cleanup(release)
	return release
}

// One client sending bad credentials spends its address's bucket of
// failed authentications; the other clients behind that address (a NAT)
// whose credentials authenticated before still get in, with and without
// the authentication cache. Unknown credentials, valid ones included,
// get 429 without a lookup; a known credential revoked since is refused,
// counted and forgotten.
func TestAuthFailLimitSparesKnownCredentials(t *testing.T) {
	t.Parallel()
	o := httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: 3, RequestTimeout: 5 * time.Second}
	t.Run("no cache", func(t *testing.T) {
		t.Parallel()
		testAuthFailLimitSparesKnown(t, newEnv(t, o))
	})
	t.Run("cache", func(t *testing.T) {
		t.Parallel()
		pool, u := dbtest.Migrated(t)
		o := o
		o.AuthCache = authcache.New(authcache.Options{TTL: time.Hour})
		listen(t, o.AuthCache, pool)
		testAuthFailLimitSparesKnown(t, newEnvOn(t, pool, u, o))
	})
}

func testAuthFailLimitSparesKnown(t *testing.T, e *env) {
	ctx := context.Background()
	a := e.tenant("alpha")
	rec, k2, err := e.st.CreateToken(ctx, a.orgID, "k2", store.RoleViewer, time.Time{})
	require.NoError(t, err)
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
	for _, tok := range []string{k2, a.viewer} {
		require.Equal(t, 200, e.do("GET", "/v1/rigs", tok, nil).code)
	}
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)
	_, fresh, err := e.st.CreateToken(ctx, a.orgID, "fresh", store.RoleViewer, time.Time{})
	require.NoError(t, err)

	// Another client at the address guesses.
	for i := range 3 {
		require.Equal(t, 401, e.do("GET", "/v1/rigs", unknownToken(i), nil).code)
	}
	r := e.do("GET", "/v1/rigs", unknownToken(3), nil)
	require.Equal(t, 429, r.code)
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	assert.Equal(t, "1000", r.header.Get("Retry-After"))

	// Known credentials still get in, again and again.
	for range 3 {
		r = e.do("GET", "/v1/rigs", a.viewer, nil)
		require.Equal(t, 200, r.code, "a known token behind the same address: %s", r.body)
		require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code, "a known agent")
	}
	// A valid credential never seen is not known: refused.
	r = e.do("GET", "/v1/rigs", fresh, nil)
	require.Equal(t, 429, r.code, "%s", r.body)
	r.problem(t)

	// Unknown credentials are refused without a lookup: with every token
	// lookup waiting on a lock, they still answer 429.
	release := lockTokens(t, e)
	for i := range 3 {
		require.Equal(t, 429, e.do("GET", "/v1/rigs", unknownToken(10+i), nil).code)
	}
	require.Equal(t, 429, e.do("GET", "/v1/rigs", "", nil).code, "no credential")
	release()

	// A known credential revoked since: refused once by its lookup, then
	// no longer known.
	require.NoError(t, e.st.RevokeToken(ctx, a.orgID, rec.ID))
	require.Equal(t, 401, e.do("GET", "/v1/rigs", k2, nil).code)
	require.Equal(t, 429, e.do("GET", "/v1/rigs", k2, nil).code)
	require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code)
}

// Concurrent bad credentials from one address cannot all pass before any
// is counted: each takes its token of the bucket before its lookup, so
// exactly the burst reaches the database and the others get 429 at once.
func TestAuthFailLimitConcurrent(t *testing.T) {
	t.Parallel()
	const burst, n = 3, 12
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: burst})
	release := lockTokens(t, e) // the lookups wait: all requests are in flight together

	var mu sync.Mutex
	codes := map[int]int{}
	answered := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code := 0
			req, err := http.NewRequest("GET", e.srv.URL+"/v1/rigs", nil)
			if err == nil {
				req.Header.Set("Authorization", "Bearer "+unknownToken(i))
				var res *http.Response
				if res, err = e.srv.Client().Do(req); err == nil {
					code = res.StatusCode
					res.Body.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			answered++
		})
	}
	waitFor(t, "all but the burst answered while the lookups wait", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return answered >= n-burst
	})
	release()
	wg.Wait()
	assert.Equal(t, map[int]int{401: burst, 429: n - burst}, codes)
}

// The per-address buckets (failed authentications, enrollment) key an
// IPv6 client by its /64, so one host cannot make 2^64 of them, and an
// IPv4-mapped address as the IPv4 address.
func TestAddressLimitsKeyIPv6By64(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: 2, RateLimit: 0.001, RateBurst: 2,
		TrustedProxies: []string{"127.0.0.1", "::1"}})
	from := func(path, addr string) int {
		t.Helper()
		if path == "/v1/agent/enroll" {
			return e.raw("POST", path, "", cloudapi.MediaJSON, []byte(`{}`), "X-Forwarded-For", addr).code
		}
		return e.raw("GET", path, unknownToken(0), "", nil, "X-Forwarded-For", addr).code
	}
	for _, path := range []string{"/v1/rigs", "/v1/agent/enroll"} {
		t.Run(path, func(t *testing.T) {
			require.NotEqual(t, 429, from(path, "2001:db8:1:2::1"))
			require.NotEqual(t, 429, from(path, "2001:db8:1:2::2"))
			assert.Equal(t, 429, from(path, "2001:db8:1:2:ffff:ffff:ffff:ffff"), "another address of the same /64")
			assert.NotEqual(t, 429, from(path, "2001:db8:1:3::1"), "another /64")

			require.NotEqual(t, 429, from(path, "192.0.2.7"))
			require.NotEqual(t, 429, from(path, "192.0.2.7"))
			assert.Equal(t, 429, from(path, "::ffff:192.0.2.7"), "IPv4-mapped is the IPv4 address")
			assert.NotEqual(t, 429, from(path, "192.0.2.8"), "IPv4 addresses are keyed one by one")
		})
	}
}

// A lookup that ends in an error other than a bad credential (here the
// request's deadline, with every token lookup waiting on a lock) keeps
// its token of the address's bucket taken: past the burst, unknown
// credentials get 429 without a lookup, not one 503 after another.
func TestAuthFailLimitCountsFailedLookups(t *testing.T) {
	t.Parallel()
	const burst = 2
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: burst, RequestTimeout: 300 * time.Millisecond})
	release := lockTokens(t, e)
	for i := range burst {
		r := e.do("GET", "/v1/rigs", unknownToken(i), nil)
		require.Equal(t, 503, r.code, "the lookup times out: %s", r.body)
	}
	for i := range 3 {
		r := e.do("GET", "/v1/rigs", unknownToken(burst+i), nil)
		require.Equal(t, 429, r.code, "the failed lookups were counted: %s", r.body)
	}
	release()
}
