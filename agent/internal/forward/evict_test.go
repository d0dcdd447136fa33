package forward

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
)

// heldCloud serves c, holding the first diagnosis batch until release is
// called; entered receives when that batch has reached the server.
type heldCloud struct {
	srv     *httptest.Server
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func newHeldCloud(t *testing.T, c *fakeCloud) *heldCloud {
	h := &heldCloud{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	var held atomic.Bool
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == cloudapi.PathDiagnoses && held.CompareAndSwap(false, true) {
			h.entered <- struct{}{}
			<-h.gate
		}
		c.serve(w, r)
	}))
	t.Cleanup(func() { h.release(); h.srv.Close() })
	return h
}

func (h *heldCloud) release() { h.once.Do(func() { close(h.gate) }) }

func (h *heldCloud) use(o *Options) { o.URL, o.HTTPClient = h.srv.URL, h.srv.Client() }

func (h *heldCloud) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-h.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for the first batch")
	}
}

// accounted is what every enqueued diagnosis ends as, queued or counted
// by its outcome (no self-drops in these tests).
func accounted(s Stats) uint64 {
	return uint64(s.Queued) + s.Accepted + s.Duplicates + s.Rejected + s.Conflicts + s.Dropped
}

// startEvicting starts the eviction tests' forwarder: an outbox of 3
// items sending batches of 2 to a held cloud c, diagnoses 1 to 3 enqueued,
// running until the end of the test; it returns once the first batch (1,
// 2) is held at the cloud. drops returns the sequence numbers passed to
// OnDrop so far.
func startEvicting(t *testing.T) (c *fakeCloud, h *heldCloud, f *Forwarder, drops func() []uint64) {
	t.Helper()
	c = newCloud(t, newClock(t0, 1000))
	h = newHeldCloud(t, c)
	var mu sync.Mutex
	var dropped []uint64
	f = newForwarder(t, c, "", func(o *Options) {
		h.use(o)
		o.MaxItems, o.BatchItems = 3, 2
		o.OnDrop = func(seq uint64, _ bool) { mu.Lock(); dropped = append(dropped, seq); mu.Unlock() }
	})
	enqueue(t, f, seqRange(1, 3), nil)
	t.Cleanup(run(t, f))
	h.waitEntered(t)
	drops = func() []uint64 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dropped)
	}
	return c, h, f, drops
}

// A diagnosis the full outbox drops while its batch is on the way, and
// that the cloud then accepts, counts once: as accepted, not also as
// dropped (nor passed to OnDrop, nor reported to the cloud as dropped).
func TestEvictedWhileSendingCountsOnce(t *testing.T) {
	c, h, f, drops := startEvicting(t)
	enqueue(t, f, seqRange(4, 5), nil)
	s := f.Stats()
	assert.Equal(t, uint64(5), s.Enqueued)
	assert.Equal(t, uint64(5), accounted(s), "snapshot while the batch is on the way: %+v", s)
	h.release()
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 && f.Stats().Accepted == 5 })
	var before int
	c.get(func(c *fakeCloud) { before = c.checkins })
	f.CheckinSoon()
	eventually(t, "a check-in after the drain", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n > before
	})
	c.get(func(c *fakeCloud) {
		assert.Len(t, c.stored, 5)
		assert.Equal(t, uint64(0), c.lastIn.Outbox.Dropped, "reported to the cloud")
	})
	s = f.Stats()
	assert.Equal(t, uint64(5), s.Accepted)
	assert.Equal(t, uint64(0), s.Dropped, "accepted by the cloud, so not dropped")
	assert.Equal(t, uint64(5), accounted(s), "every diagnosis counted once: %+v", s)
	assert.Empty(t, drops())
}

// When the batch fails instead, the diagnoses the outbox dropped while it
// was on the way count as dropped, once, when the answer comes.
func TestEvictedWhileSendingFailedIsDropped(t *testing.T) {
	c, h, f, drops := startEvicting(t)
	c.set(func(c *fakeCloud) { c.failNext, c.failStatus = 1, http.StatusServiceUnavailable })
	enqueue(t, f, seqRange(4, 5), nil)
	h.release()
	eventually(t, "drained", func() bool { return f.Stats().Queued == 0 && f.Stats().Accepted == 3 })
	s := f.Stats()
	assert.Equal(t, uint64(2), s.Dropped)
	assert.Equal(t, uint64(5), accounted(s), "every diagnosis counted once: %+v", s)
	assert.Equal(t, []uint64{1, 2}, drops())
	c.get(func(c *fakeCloud) {
		assert.Len(t, c.stored, 3)
		assert.NotContains(t, c.stored, uint64(1))
	})
}
