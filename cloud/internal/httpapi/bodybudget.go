package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// DefaultMaxBodyInflightBytes is Options.MaxBodyInflightBytes's default:
// 64 MiB of buffered request bodies per replica, which with GOGC=200 (a
// heap up to three times its live part) keeps the API within the 512Mi of
// deploy/k8s.
const DefaultMaxBodyInflightBytes = 64 << 20

// BodyWait is how long a request waits for its share of
// Options.MaxBodyInflightBytes before it gets 503.
const BodyWait = time.Second

// streamedRoutes stream their bodies (to the blob store, the TUF
// repository) instead of buffering them: the body budget leaves them out.
// Their own limits are blob.max_object_bytes and
// releases.max_archive_bytes, and their time blob.upload_timeout.
var streamedRoutes = map[string]bool{
	"PUT /v1/datasets/:id/archive": true,
	"POST /v1/releases":            true,
}

// bodyBudget caps the bytes that request bodies may hold in memory at
// once (Options.MaxBodyInflightBytes). A JSON body is read whole before
// it is decoded (cloudapi.ReadBody), and a gzip body is read whole, then
// decoded whole: each request with a body reserves, once it has
// authenticated (a credential, an enrollment token) and before its
// handler runs, what it may buffer, and gives it back when its handler
// returns. Unauthenticated requests never hold any of it: slow bodies
// sent with garbage credentials cannot starve the authenticated ones.
// The reservation is the body's Content-Length (Options.MaxBodyBytes when
// it has none), plus Options.MaxBodyBytes for the decoded copy when it
// is gzip, never more than the whole budget (one request alone always
// runs). A request that finds no room waits up to BodyWait, in arrival
// order, then gets 503 unavailable with Retry-After: 1.
type bodyBudget struct {
	sem      *semaphore.Weighted
	size     int64
	maxBody  int64
	inUse    atomic.Int64
	rejected prometheus.Counter
}

// limitBodies returns the body budget's middleware and registers its
// metrics. Wire it in each route group after the authentication (and
// its limits), never on the engine: a reservation made before the
// credential is checked lets anyone hold the budget.
func (a *API) limitBodies() gin.HandlerFunc {
	size := a.opt.MaxBodyInflightBytes
	if size <= 0 {
		size = DefaultMaxBodyInflightBytes
	}
	b := &bodyBudget{sem: semaphore.NewWeighted(size), size: size, maxBody: a.opt.MaxBodyBytes,
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_http_body_budget_rejected_total",
			Help: "Requests answered 503 because request bodies in flight held server.max_body_inflight_bytes."})}
	a.reg.MustRegister(b.rejected,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rig_cloud_http_body_budget_bytes",
			Help: "Bytes of server.max_body_inflight_bytes reserved by requests in flight."},
			func() float64 { return float64(b.inUse.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rig_cloud_http_body_budget_limit_bytes",
			Help: "server.max_body_inflight_bytes."},
			func() float64 { return float64(size) }))
	return b.handle
}

// cost is what r may buffer: 0 for a request whose body is not read
// whole here.
func (b *bodyBudget) cost(c *gin.Context) int64 {
	r := c.Request
	switch {
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody,
		r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions,
		c.FullPath() == "" || streamedRoutes[r.Method+" "+c.FullPath()],
		r.ContentLength > b.maxBody: // 413 before a byte is read
		return 0
	}
	n := b.maxBody
	if r.ContentLength > 0 {
		n = r.ContentLength
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Content-Encoding")), "gzip") {
		n += b.maxBody
	}
	return min(n, b.size)
}

func (b *bodyBudget) handle(c *gin.Context) {
	n := b.cost(c)
	if n == 0 {
		c.Next()
		return
	}
	if !b.sem.TryAcquire(n) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), BodyWait)
		err := b.sem.Acquire(ctx, n)
		cancel()
		if err != nil {
			b.rejected.Inc()
			c.Header(cloudapi.HeaderRetryAfter, "1")
			abort(c, problem(cloudapi.ProblemUnavailable, 503,
				"the request bodies in flight hold this server's body budget (server.max_body_inflight_bytes, %s bytes): retry", strconv.FormatInt(b.size, 10)))
			return
		}
	}
	b.inUse.Add(n)
	defer func() {
		b.inUse.Add(-n)
		b.sem.Release(n)
	}()
	c.Next()
}
