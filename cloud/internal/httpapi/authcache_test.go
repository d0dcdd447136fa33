package httpapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// listen runs c's listener on pool until the test ends (stopped before
// the pool closes) and waits until it listens.
func listen(t testing.TB, c *authcache.Cache, pool *pgxpool.Pool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Listen(ctx, pool, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	}()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, "the auth cache's listener listens", c.Listening)
}

// waitFor polls cond every 10ms until it holds, failing t after 10s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newCachedEnv is newEnv with an authentication cache whose listener
// runs.
func newCachedEnv(t testing.TB, o authcache.Options) (*env, *authcache.Cache) {
	t.Helper()
	pool, u := dbtest.Migrated(t)
	c := authcache.New(o)
	listen(t, c, pool)
	return newEnvOn(t, pool, u, httpapi.Options{AuthCache: c}), c
}

// replica is another API, with its own pool and cache, on e's database.
func (e *env) replica(o authcache.Options) (*env, *authcache.Cache) {
	t := e.t
	t.Helper()
	pool, err := db.Open(context.Background(), e.dbURL, db.Options{MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c := authcache.New(o)
	listen(t, c, pool)
	r := newEnvOn(t, pool, e.dbURL, httpapi.Options{AuthCache: c})
	r.system = e.system
	return r, c
}

// metric reads one series of the API's /metrics ("name" or
// `name{label="value"}`); 0 when absent.
func (e *env) metric(series string) float64 {
	e.t.Helper()
	r := e.do("GET", "/metrics", "", nil)
	require.Equal(e.t, 200, r.code)
	for line := range strings.Lines(string(r.body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			require.NoError(e.t, err, "%s", line)
			return f
		}
	}
	return 0
}

// stats reads the cache's hits and misses from the API's /metrics.
func (e *env) stats() (hits, misses float64) {
	e.t.Helper()
	return e.metric("rig_cloud_auth_cache_hits_total"), e.metric("rig_cloud_auth_cache_misses_total")
}

// clock is a settable clock for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// forget makes the database forget a credential without revoking it (no
// notification): a request it still passes was served by the cache.
func (e *env) forget(table, col, cred string) {
	e.t.Helper()
	_, err := e.st.Pool().Exec(context.Background(),
		fmt.Sprintf(`UPDATE %s SET %s = sha256(%s || 'forgotten') WHERE %s = $1`, table, col, col, col), store.Hash(cred))
	require.NoError(e.t, err)
}

// A cached token and agent credential keep working without their
// database rows until the TTL has passed; then they are looked up again.
func TestAuthCacheServesCached(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e, c := newCachedEnv(t, authcache.Options{TTL: time.Minute, Now: clk.now})
	a := e.tenant("alpha")
	cin := cloudapi.CheckinRequest{AgentID: a.agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}

	require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code)
	require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)
	hits0, misses0 := e.stats()
	e.forget("api_tokens", "token_hash", a.viewer)
	e.forget("agents", "credential_hash", a.cred)
	for range 5 {
		require.Equal(t, 200, e.do("GET", "/v1/rigs", a.viewer, nil).code, "served from the cache")
		require.Equal(t, 200, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code, "served from the cache")
	}
	hits, misses := e.stats()
	assert.Equal(t, hits0+10, hits)
	assert.Equal(t, misses0, misses, "no lookup")

	// Past the TTL the database answers: neither exists any more.
	clk.add(time.Minute)
	assert.Equal(t, 401, e.do("GET", "/v1/rigs", a.viewer, nil).code)
	assert.Equal(t, 401, e.do("POST", cloudapi.PathCheckin, a.cred, cin).code)
	_, misses = e.stats()
	assert.Equal(t, misses0+2, misses)
	assert.Positive(t, c.Len(), "the tenant's other tokens are still cached")

	// Refusals are never cached: an unknown token is looked up each time.
	for range 3 {
		assert.Equal(t, 401, e.do("GET", "/v1/rigs", "rgt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil).code)
	}
	_, misses2 := e.stats()
	assert.Equal(t, misses+3, misses2)
}

// A token is not served from the cache past its expires_at, TTL or not.
func TestAuthCacheTokenExpiry(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Now()}
	e, _ := newCachedEnv(t, authcache.Options{TTL: 2 * time.Hour, Now: clk.now})
	a := e.tenant("alpha")
	_, tok, err := e.st.CreateToken(context.Background(), a.orgID, "short", store.RoleViewer, clk.now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 200, e.do("GET", "/v1/rigs", tok, nil).code)
	e.forget("api_tokens", "token_hash", tok) // only the cache knows it now
	clk.add(59 * time.Minute)
	require.Equal(t, 200, e.do("GET", "/v1/rigs", tok, nil).code, "cached until its expiry")
	clk.add(time.Minute)
	assert.Equal(t, 401, e.do("GET", "/v1/rigs", tok, nil).code, "not served past its expiry")
}

// A revocation is refused by the replica that made it on the very next
// request, and by another replica (same database, its own cache) within
// moments, thanks to NOTIFY: far within the TTL of an hour. Tokens, agent
// credentials, and an agent credential replaced by re-enrollment.
func TestAuthCacheRevocation(t *testing.T) {
	t.Parallel()
	o := authcache.Options{TTL: time.Hour}
	e, _ := newCachedEnv(t, o)
	r, _ := e.replica(o)
	a := e.tenant("alpha")

	// refusedOnB polls replica r until it refuses req, within 5s.
	refusedOnB := func(what string, req func(*env) int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for code := req(r); code != 401; code = req(r) {
			require.Equal(t, 200, code, what)
			if time.Now().After(deadline) {
				t.Fatalf("%s: replica B still accepts it 5s after the revocation (TTL %s)", what, o.TTL)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// warm makes both replicas cache a credential (the second request of
	// each is a hit).
	warm := func(what string, req func(*env) int) {
		t.Helper()
		for _, x := range []*env{e, r} {
			h0, _ := x.stats()
			require.Equal(t, 200, req(x), what)
			require.Equal(t, 200, req(x), what)
			h, _ := x.stats()
			require.Equal(t, h0+1, h, "%s: cached", what)
		}
	}

	// A token, revoked on A.
	var tr fleetapi.TokenResponse
	resp := e.do("POST", fmt.Sprintf("/v1/orgs/%d/tokens", a.orgID), a.admin, fleetapi.TokenRequest{Name: "v2", Role: string(store.RoleViewer)})
	require.Equal(t, 201, resp.code, "%s", resp.body)
	resp.decode(t, &tr)
	rigs := func(x *env) int { return x.do("GET", "/v1/rigs", tr.Secret, nil).code }
	warm("token", rigs)
	require.Equal(t, 204, e.do("DELETE", fmt.Sprintf("/v1/tokens/%d", tr.Token.ID), a.admin, nil).code)
	assert.Equal(t, 401, rigs(e), "refused at once where it was revoked")
	refusedOnB("revoked token", rigs)
	assert.Equal(t, 200, r.do("GET", "/v1/rigs", a.viewer, nil).code, "other tokens still work on B")

	// An agent, revoked on A.
	checkin := func(agent, cred string) func(*env) int {
		cin := cloudapi.CheckinRequest{AgentID: agent, RigID: a.rig, RigType: a.rigType, Time: time.Now()}
		return func(x *env) int { return x.do("POST", cloudapi.PathCheckin, cred, cin).code }
	}
	cred := e.enroll(a, "agent-2")
	warm("agent", checkin("agent-2", cred))
	require.Equal(t, 204, e.do("POST", "/v1/agents/agent-2/revoke", a.operator, nil).code)
	assert.Equal(t, 401, checkin("agent-2", cred)(e), "refused at once where it was revoked")
	refusedOnB("revoked agent", checkin("agent-2", cred))

	// An agent re-enrolled on B: its old credential is refused by B at
	// once and by A within moments; the new one works on both.
	old := r.enroll(a, "agent-3")
	warm("agent before re-enrollment", checkin("agent-3", old))
	fresh := r.enroll(a, "agent-3")
	assert.Equal(t, 401, checkin("agent-3", old)(r), "refused at once where it was replaced")
	waitFor(t, "replica A refuses the replaced credential", func() bool { return checkin("agent-3", old)(e) == 401 })
	assert.Equal(t, 200, checkin("agent-3", fresh)(e))
	assert.Equal(t, 200, checkin("agent-3", fresh)(r))

	// Each replica flushed for its own revocations and on the other's
	// notifications; enrolling a new agent id revokes nothing.
	revokeA, notifyA := e.metric(`rig_cloud_auth_cache_flushes_total{reason="revoke"}`), e.metric(`rig_cloud_auth_cache_flushes_total{reason="notify"}`)
	assert.Equal(t, 2.0, revokeA, "A revoked a token and an agent")
	assert.GreaterOrEqual(t, notifyA, 3.0, "A heard its two and B's one")
	assert.Equal(t, 1.0, e.metric("rig_cloud_auth_cache_listener_up"))
	e.enroll(a, "agent-4")
	assert.Equal(t, revokeA, e.metric(`rig_cloud_auth_cache_flushes_total{reason="revoke"}`))
}
