package authcache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// clock is a settable clock.
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

// fetcher counts lookups; it knows the credentials in principals.
type fetcher struct {
	calls      atomic.Int64
	principals map[string]*store.Principal
}

func (f *fetcher) fetch(_ context.Context, cred string) (*store.Principal, error) {
	f.calls.Add(1)
	p, ok := f.principals[cred]
	if !ok {
		return nil, store.ErrBadCredential
	}
	return clone(p), nil
}

// listening returns a Cache as Listen leaves it once connected.
func listening(t *testing.T, o Options) *Cache {
	t.Helper()
	c := New(o)
	up := true
	c.flush(ReasonListener, &up)
	return c
}

func TestLookup(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &fetcher{principals: map[string]*store.Principal{
		"tok":   {OrgID: 1, TokenID: 7, Role: store.RoleViewer},
		"agent": {OrgID: 1, Agent: &store.AgentIdentity{ID: 3, Name: "a", RigName: "r"}},
	}}
	ctx := context.Background()
	c := listening(t, Options{TTL: 5 * time.Second, Now: clk.now})

	for range 3 {
		p, err := c.Lookup(ctx, "tok", f.fetch)
		require.NoError(t, err)
		assert.Equal(t, int64(7), p.TokenID)
	}
	assert.Equal(t, int64(1), f.calls.Load(), "one lookup, then hits")
	assert.Equal(t, 2.0, testutil.ToFloat64(c.hits))
	assert.Equal(t, 1.0, testutil.ToFloat64(c.misses))

	// A caller's changes do not reach the cache.
	p, err := c.Lookup(ctx, "agent", f.fetch)
	require.NoError(t, err)
	p.Agent.Name, p.OrgID = "changed", 99
	p, err = c.Lookup(ctx, "agent", f.fetch)
	require.NoError(t, err)
	assert.Equal(t, "a", p.Agent.Name)
	assert.Equal(t, int64(1), p.OrgID)

	// Refusals are not kept.
	for range 3 {
		_, err := c.Lookup(ctx, "nobody", f.fetch)
		require.ErrorIs(t, err, store.ErrBadCredential)
	}
	assert.Equal(t, int64(5), f.calls.Load(), "every unknown credential is looked up")
	assert.Equal(t, 2, c.Len())

	// Past the TTL: looked up again.
	clk.add(5 * time.Second)
	_, err = c.Lookup(ctx, "tok", f.fetch)
	require.NoError(t, err)
	assert.Equal(t, int64(6), f.calls.Load())

	// A token is never served past its expiry, TTL or not.
	f.principals["short"] = &store.Principal{OrgID: 1, TokenID: 8, Role: store.RoleAdmin, Expires: clk.now().Add(2 * time.Second)}
	_, err = c.Lookup(ctx, "short", f.fetch)
	require.NoError(t, err)
	clk.add(time.Second)
	_, err = c.Lookup(ctx, "short", f.fetch)
	require.NoError(t, err)
	assert.Equal(t, int64(7), f.calls.Load(), "served within its expiry")
	clk.add(time.Second)
	delete(f.principals, "short") // expired in the database too
	_, err = c.Lookup(ctx, "short", f.fetch)
	require.ErrorIs(t, err, store.ErrBadCredential, "at its expiry the database answers")

	// The key is the hash: no credential is held.
	c.mu.Lock()
	for e := c.ll.Front(); e != nil; e = e.Next() {
		assert.NotContains(t, fmt.Sprint(e.Value.(*entry).key), "tok")
	}
	c.mu.Unlock()
}

func TestNotListening(t *testing.T) {
	f := &fetcher{principals: map[string]*store.Principal{"tok": {TokenID: 1, Role: store.RoleViewer}}}
	ctx := context.Background()
	c := New(Options{})
	for range 3 {
		_, err := c.Lookup(ctx, "tok", f.fetch)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), f.calls.Load(), "before the listener listens, nothing is served")
	assert.Zero(t, c.Len())
	assert.False(t, c.Listening())
	assert.Equal(t, 0.0, testutil.ToFloat64(c.listenerUp))

	up, down := true, false
	c.flush(ReasonListener, &up)
	_, _ = c.Lookup(ctx, "tok", f.fetch)
	_, _ = c.Lookup(ctx, "tok", f.fetch)
	assert.Equal(t, int64(4), f.calls.Load())
	assert.Equal(t, 1.0, testutil.ToFloat64(c.listenerUp))

	c.flush(ReasonListener, &down)
	_, _ = c.Lookup(ctx, "tok", f.fetch)
	assert.Equal(t, int64(5), f.calls.Load(), "a lost listener stops serving at once")
	assert.Equal(t, 2.0, testutil.ToFloat64(c.flushes.WithLabelValues(ReasonListener)))

	// A nil Cache looks up every time.
	var none *Cache
	_, err := none.Lookup(ctx, "tok", f.fetch)
	require.NoError(t, err)
	assert.Equal(t, int64(6), f.calls.Load())
	none.Flush()
	assert.Zero(t, none.TTL())
}

func TestFull(t *testing.T) {
	f := &fetcher{principals: map[string]*store.Principal{}}
	for i := range 4 {
		f.principals[fmt.Sprint("t", i)] = &store.Principal{TokenID: int64(i)}
	}
	ctx := context.Background()
	c := listening(t, Options{MaxEntries: 3})
	for _, k := range []string{"t0", "t1", "t2", "t0", "t3"} { // t0 used again: t1 is the least recent
		_, err := c.Lookup(ctx, k, f.fetch)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, c.Len())
	assert.Equal(t, 1.0, testutil.ToFloat64(c.evictions))
	assert.Equal(t, 3.0, testutil.ToFloat64(c.entries))
	n := f.calls.Load()
	for _, k := range []string{"t0", "t2", "t3"} {
		_, _ = c.Lookup(ctx, k, f.fetch)
	}
	assert.Equal(t, n, f.calls.Load(), "t0, t2, t3 kept")
	_, _ = c.Lookup(ctx, "t1", f.fetch)
	assert.Equal(t, n+1, f.calls.Load(), "t1 dropped")
}

// A lookup that read the database before a revocation's flush does not
// store what it read.
func TestFlushDuringLookup(t *testing.T) {
	ctx := context.Background()
	c := listening(t, Options{})
	var calls atomic.Int64
	fetch := func(context.Context, string) (*store.Principal, error) {
		if calls.Add(1) == 1 {
			c.Flush() // the revocation commits while the first lookup runs
		}
		return &store.Principal{TokenID: 1}, nil
	}
	_, err := c.Lookup(ctx, "tok", fetch)
	require.NoError(t, err)
	assert.Zero(t, c.Len(), "a result from before the flush is not kept")
	_, _ = c.Lookup(ctx, "tok", fetch)
	_, _ = c.Lookup(ctx, "tok", fetch)
	assert.Equal(t, int64(2), calls.Load())
	assert.Equal(t, 1.0, testutil.ToFloat64(c.flushes.WithLabelValues(ReasonRevoke)))

	c.Flush()
	assert.Zero(t, c.Len())
	assert.True(t, c.Listening(), "a revocation's flush leaves the listener's state")

	// A database error is returned, not kept.
	boom := errors.New("boom")
	_, err = c.Lookup(ctx, "other", func(context.Context, string) (*store.Principal, error) { return nil, boom })
	require.ErrorIs(t, err, boom)
	assert.Zero(t, c.Len())
}

func TestConcurrent(t *testing.T) {
	f := &fetcher{principals: map[string]*store.Principal{}}
	for i := range 50 {
		f.principals[fmt.Sprint("t", i)] = &store.Principal{TokenID: int64(i)}
	}
	ctx := context.Background()
	c := listening(t, Options{MaxEntries: 20})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprint("t", (i*7+g)%50)
				p, err := c.Lookup(ctx, k, f.fetch)
				if err != nil || fmt.Sprint("t", p.TokenID) != k {
					t.Errorf("lookup %s: %v %v", k, p, err)
					return
				}
				if i%97 == 0 {
					c.Flush()
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 20)
}

// TestMissesCoalesce: clients of one credential that miss at once (its
// entry expired) share one fetch, and a caller's cancelled context does
// not fail the others; each gets its own copy.
func TestMissesCoalesce(t *testing.T) {
	c := listening(t, Options{})
	var calls atomic.Int64
	release := make(chan struct{})
	fetch := func(ctx context.Context, cred string) (*store.Principal, error) {
		calls.Add(1)
		<-release
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return &store.Principal{OrgID: 1, TokenID: 9}, nil
	}
	const n = 20
	got := make([]*store.Principal, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	first, cancelFirst := context.WithCancel(context.Background())
	for i := range n {
		ctx := context.Background()
		if i == 0 {
			ctx = first
		}
		wg.Go(func() { got[i], errs[i] = c.Lookup(ctx, "tok", fetch) })
		if i == 0 {
			require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
		}
	}
	// Let the others join the flight (each counts its miss just before),
	// then cancel the caller whose context the fetch began under.
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.misses) == n }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	cancelFirst()
	close(release)
	wg.Wait()
	assert.Equal(t, int64(1), calls.Load(), "one fetch for concurrent misses")
	for i := range n {
		require.NoError(t, errs[i], "caller %d", i)
		assert.Equal(t, int64(9), got[i].TokenID)
		if i > 0 {
			assert.NotSame(t, got[0], got[i], "each caller owns its copy")
		}
	}
	p, err := c.Lookup(context.Background(), "tok", fetch)
	require.NoError(t, err)
	assert.Equal(t, int64(9), p.TokenID)
	assert.Equal(t, int64(1), calls.Load(), "then cached")
}

// A caller that joins a shared fetch late keeps its answer no longer than
// the TTL from when the fetch began: had the credential been revoked
// meanwhile with the notification lost, a deadline from the late caller's
// start would serve it for longer.
func TestJoinedLookupKeepsFetchDeadline(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := listening(t, Options{TTL: 5 * time.Second, Now: clk.now})
	var calls atomic.Int64
	release := make(chan struct{})
	fetch := func(ctx context.Context, cred string) (*store.Principal, error) {
		if calls.Add(1) == 1 {
			<-release
		}
		return &store.Principal{OrgID: 1, TokenID: 9}, nil
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.Lookup(context.Background(), "tok", fetch) })
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	clk.add(4 * time.Second) // a late caller joins the fetch begun at 0 s
	wg.Go(func() { _, _ = c.Lookup(context.Background(), "tok", fetch) })
	require.Eventually(t, func() bool { return testutil.ToFloat64(c.misses) == 2 }, 5*time.Second, time.Millisecond)
	time.Sleep(20 * time.Millisecond) // let it join the flight
	close(release)
	wg.Wait()
	require.Equal(t, int64(1), calls.Load(), "one fetch")

	clk.add(2 * time.Second) // 6 s after the fetch began, 2 s after the late caller
	_, err := c.Lookup(context.Background(), "tok", fetch)
	require.NoError(t, err)
	assert.Equal(t, int64(2), calls.Load(), "the entry ended 5 s after the fetch began")
}
