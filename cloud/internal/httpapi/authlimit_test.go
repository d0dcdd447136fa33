package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
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

// inFlight sends n requests together (req makes the i-th), waits up to
// hold (or until one is answered, when sooner) while they are in flight,
// runs release, and returns the count of answers by status (0: no answer).
func inFlight(t *testing.T, e *env, n int, hold time.Duration, release func(), req func(i int) (*http.Request, error)) map[int]int {
	t.Helper()
	var mu sync.Mutex
	codes := map[int]int{}
	answered := 0
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			code := 0
			r, err := req(i)
			if err == nil {
				var res *http.Response
				if res, err = e.srv.Client().Do(r); err == nil {
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
	for deadline := time.Now().Add(hold); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		any := answered > 0
		mu.Unlock()
		if any {
			break
		}
	}
	release()
	wg.Wait()
	return codes
}

// Bad credentials sent together from one address: at most
// httpapi.UnknownLookups of them are looked up at once, the bucket is
// checked before each lookup (and again after waiting for a slot), and
// each failure is counted once answered. With a burst of 3 the first
// UnknownLookups pass the check before any is counted, and those that get
// a slot while the bucket still holds a token after them (at most
// burst+UnknownLookups-1 looked up in all: the overshoot, so bounded); the
// rest find the bucket spent: 429 without a lookup, and so is every
// unknown credential after them.
func TestAuthFailLimitConcurrent(t *testing.T) {
	t.Parallel()
	const burst, n = 3, 12
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: burst})
	release := lockTokens(t, e) // the lookups wait: all requests are in flight together
	codes := inFlight(t, e, n, time.Second, release, func(i int) (*http.Request, error) {
		req, err := http.NewRequest("GET", e.srv.URL+"/v1/rigs", nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+unknownToken(i))
		}
		return req, err
	})
	assert.Equal(t, n, codes[401]+codes[429], "only 401 and 429: %v", codes)
	assert.GreaterOrEqual(t, codes[401], httpapi.UnknownLookups, "those in flight before any was counted: %v", codes)
	assert.LessOrEqual(t, codes[401], burst+httpapi.UnknownLookups-1, "the overshoot is bounded: %v", codes)
	for i := range 3 {
		r := e.do("GET", "/v1/rigs", unknownToken(n+i), nil)
		require.Equal(t, 429, r.code, "the %d failures were counted: %s", n, r.body)
	}
}

// Many rigs behind one address (a NAT) enrolling at once with valid
// tokens this replica did not make (another replica's, or made before a
// restart: unknown here) all enroll under the default limits of failed
// authentications (1/s, burst 20): a valid token never spends the bucket,
// not even while its lookup is in flight. Bad tokens sent together still
// lock the address out.
func TestEnrollmentManyAtOnceBehindOneAddress(t *testing.T) {
	t.Parallel()
	const n = 100
	ctx := context.Background()
	e := newEnv(t, httpapi.Options{AuthFailLimit: 1, AuthFailBurst: 20, RequestTimeout: 30 * time.Second})
	a := e.tenant("alpha")
	toks := make([]string, n)
	for i := range toks {
		en, err := e.st.CreateEnrollment(ctx, a.orgID, a.rig, 0, time.Hour)
		require.NoError(t, err)
		toks[i] = en.Token
	}
	enroll := func(tok, agent string) (*http.Request, error) {
		body, err := json.Marshal(cloudapi.EnrollRequest{AgentID: agent, RigID: a.rig})
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequest("POST", e.srv.URL+cloudapi.PathEnroll, bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", cloudapi.MediaJSON)
		}
		return req, err
	}

	// Every lookup waits on a lock: all n are in flight together.
	codes := inFlight(t, e, n, 2*time.Second, lockEnrollments(t, e), func(i int) (*http.Request, error) {
		return enroll(toks[i], fmt.Sprint("rig-", i))
	})
	assert.Equal(t, map[int]int{200: n}, codes, "every valid enrollment from one address")

	// Bad tokens sent together: each looked up is counted; past the burst
	// of 20 at most UnknownLookups-1 more (in flight when the 20th was
	// counted, plus the few tokens earned at 1/s meanwhile) are looked up,
	// the others are refused without a lookup.
	codes = inFlight(t, e, 40, time.Second, lockEnrollments(t, e), func(i int) (*http.Request, error) {
		return enroll(unknownEnrollment(i), "rig-x")
	})
	assert.Equal(t, 40, codes[401]+codes[429], "only 401 and 429: %v", codes)
	assert.GreaterOrEqual(t, codes[401], 20, "the burst: %v", codes)
	assert.LessOrEqual(t, codes[401], 20+httpapi.UnknownLookups-1+3, "the overshoot is bounded: %v", codes)
	req, err := enroll(unknownEnrollment(100), "rig-x")
	require.NoError(t, err)
	res, err := e.srv.Client().Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, 429, res.StatusCode, "the address is locked out")
}

// The per-address buckets (failed authentications, enrollment) key an
// IPv6 client by its /64, so one host cannot make 2^64 of them, and an
// IPv4-mapped address as the IPv4 address. Each path has its own API:
// enrollment's failures count in the failed authentications' buckets.
func TestAddressLimitsKeyIPv6By64(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"/v1/rigs", "/v1/agent/enroll"} {
		t.Run(path, func(t *testing.T) {
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

// unknownEnrollment is a well-formed enrollment token that no row holds.
func unknownEnrollment(i int) string { return fmt.Sprintf("%s%043d", store.PrefixEnrollment, i) }

// lockEnrollments is lockTokens on enrollment_tokens: every enrollment
// token lookup waits until release.
func lockEnrollments(t *testing.T, e *env) (release func()) {
	t.Helper()
	tx, err := e.st.Pool().Begin(context.Background())
	require.NoError(t, err)
	_, err = tx.Exec(context.Background(), "LOCK TABLE enrollment_tokens IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback(context.Background()) }) }
	t.Cleanup(release)
	return release
}

// Enrollment tokens that are unknown, spent or expired (or missing) count
// as failed authentications of the client's address, in the same bucket
// as bad bearer credentials: past it, enrollment answers 429 problem+json
// with Retry-After and no lookup. Valid enrollments are not counted, and
// an enrollment token made on this replica (known, like a credential that
// authenticated) still enrolls while the address is locked out.
func TestEnrollmentCountsFailedAuthentications(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: 3, RequestTimeout: 5 * time.Second})
	a := e.tenant("alpha")
	enroll := func(tok, agent string) resp {
		t.Helper()
		return e.do("POST", cloudapi.PathEnroll, tok, cloudapi.EnrollRequest{AgentID: agent, RigID: a.rig})
	}
	elsewhere := func(ttl time.Duration) string { // made by another replica: not known here
		t.Helper()
		en, err := e.st.CreateEnrollment(ctx, a.orgID, a.rig, 0, ttl)
		require.NoError(t, err)
		return en.Token
	}
	made := func() string { // made by this replica
		t.Helper()
		var en store.Enrollment
		r := e.do("POST", "/v1/rigs/"+a.rig+"/enrollments", a.operator, nil)
		require.Equal(t, 201, r.code, "%s", r.body)
		r.decode(t, &en)
		return en.Token
	}

	require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code)

	// Valid enrollments, new to this replica, are not counted.
	spent := elsewhere(time.Hour)
	require.Equal(t, 200, enroll(spent, "rig-a").code)
	require.Equal(t, 401, enroll(unknownEnrollment(0), "rig-x").code)
	for i := range 5 {
		r := enroll(elsewhere(time.Hour), fmt.Sprint("rig-b", i))
		require.Equal(t, 200, r.code, "a valid enrollment next to a failure: %s", r.body)
	}
	known := made()
	// A spent and an expired token: the bucket's other two tokens.
	require.Equal(t, 401, enroll(spent, "rig-x").code, "spent")
	require.Equal(t, 401, enroll(elsewhere(-time.Minute), "rig-x").code, "expired")

	r := enroll(unknownEnrollment(1), "rig-x")
	require.Equal(t, 429, r.code, "the address's failures were counted: %s", r.body)
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	assert.Equal(t, "1000", r.header.Get("Retry-After"))
	require.Equal(t, 429, enroll("", "rig-x").code, "no credential")
	require.Equal(t, 429, e.do("GET", "/v1/rigs", unknownToken(0), nil).code, "one bucket for bearer credentials and enrollment")
	require.Equal(t, 429, enroll(elsewhere(time.Hour), "rig-c").code, "a valid token not known here waits like a new bearer credential")

	// Unknown tokens are refused without a lookup: with every enrollment
	// token lookup waiting on a lock, they still answer 429.
	release := lockEnrollments(t, e)
	for i := range 3 {
		require.Equal(t, 429, enroll(unknownEnrollment(10+i), "rig-x").code)
	}
	release()

	// The NAT rule: a token made on this replica still enrolls, once.
	r = enroll(known, "rig-d")
	require.Equal(t, 200, r.code, "a known enrollment token behind a locked-out address: %s", r.body)
	require.Equal(t, 429, enroll(known, "rig-e").code, "spent, and forgotten")
	require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code, "known bearer credentials still get in")
}

// An IPv6 attacker holding a /48 (65,536 /64s) cannot multiply its
// failed authentications by its /64s: each /48 has an aggregate bucket,
// 16 times the per-address one, and either spent answers 429. Another
// /48 is unaffected, and known credentials still get in from the
// locked-out /48.
func TestAuthFailLimitAggregatesIPv6By48(t *testing.T) {
	t.Parallel()
	const burst = 2
	e := newEnv(t, httpapi.Options{AuthFailLimit: 0.001, AuthFailBurst: burst, TrustedProxies: []string{"127.0.0.1", "::1"}})
	a := e.tenant("alpha")
	require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code)
	from := func(addr, tok string) resp {
		t.Helper()
		return e.raw("GET", "/v1/rigs", tok, "", nil, "X-Forwarded-For", addr)
	}
	for n := range 16 {
		for i := range burst {
			r := from(fmt.Sprintf("2001:db8:1:%x::%d", n, i+1), unknownToken(n*burst+i))
			require.Equal(t, 401, r.code, "/64 number %d, failure %d: %s", n, i, r.body)
		}
	}
	r := from("2001:db8:1:ffff::1", unknownToken(100))
	require.Equal(t, 429, r.code, "a fresh /64 of the same /48: %s", r.body)
	assert.Equal(t, cloudapi.ProblemRateLimited, r.problem(t).Type)
	assert.Contains(t, r.problem(t).Detail, "/48")
	assert.Equal(t, "63", r.header.Get("Retry-After"), "1/(16 x 0.001) s, rounded up")
	require.Equal(t, 429, e.raw("POST", cloudapi.PathEnroll, unknownEnrollment(0), cloudapi.MediaJSON, []byte(`{}`),
		"X-Forwarded-For", "2001:db8:1:abcd::1").code, "enrollment too")

	require.Equal(t, 401, from("2001:db8:2::1", unknownToken(101)).code, "another /48")
	require.Equal(t, 401, from("192.0.2.1", unknownToken(102)).code, "IPv4")
	require.Equal(t, 200, from("2001:db8:1:ffff::1", a.viewer).code, "a known credential from the locked-out /48")
}
