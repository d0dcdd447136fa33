package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hydrognn/hydrognn/cloud/internal/authcache"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Options configure the API; zero fields take the defaults noted.
type Options struct {
	// MaxBodyBytes caps request bodies (0: cloudapi.DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// MaxBodyInflightBytes caps the bytes request bodies may hold in
	// memory at once; past it, 503 (bodybudget.go; 0:
	// DefaultMaxBodyInflightBytes).
	MaxBodyInflightBytes int64
	// RequestTimeout is each request's deadline (0: 30s).
	RequestTimeout time.Duration
	// RateLimit and RateBurst are each credential's token bucket
	// (0: 50/s, burst 100); MaxLimiters caps the buckets kept (0: 100000).
	// The per-address buckets (enrollment, failed authentication) are
	// kept apart from the credentials', each capped at MaxLimiters, so
	// that many addresses cannot evict a credential's bucket.
	RateLimit   float64
	RateBurst   int
	MaxLimiters int
	// OrgRateLimit and OrgRateBurst are each organisation's bucket, shared
	// by its credentials (tokens and agents) and checked after theirs
	// (0: 10 times RateLimit and RateBurst); system and release tokens
	// have none.
	OrgRateLimit float64
	OrgRateBurst int
	// AuthFailLimit and AuthFailBurst are each client address's bucket of
	// failed authentications (0: 1/s, burst 20): when it is spent, /v1
	// requests from the address get 429 before any credential lookup,
	// except those whose credential has authenticated before (one of the
	// last MaxLimiters to do so), so that a client sending bad
	// credentials does not lock out the others behind its address. A
	// credential not known yet is looked up while the bucket holds a
	// token, and only a failed lookup spends one. An IPv4 address is keyed by
	// itself, an IPv6 one by its /64 (here and at enrollment's request
	// rate); an IPv6 /48 also has a bucket shared by its /64s, siteFactor
	// (16) times larger, and either spent refuses. Bad enrollment tokens
	// count here too (checkCredential).
	AuthFailLimit float64
	AuthFailBurst int
	// TrustedProxies lists the proxies (IPs or CIDRs) whose
	// X-Forwarded-For and X-Real-IP give the client address (nil: none;
	// the address is the connection's peer).
	TrustedProxies []string
	// EnrollmentTTL is an enrollment token's lifetime (0: 24h).
	EnrollmentTTL time.Duration
	// MaxBatchItems is announced at check-in and enforced on batches
	// (0: cloudapi.DefaultMaxBatchItems).
	MaxBatchItems int
	// CheckinInterval is answered as next_checkin_s (0: 5m); an agent is
	// online while its last check-in is within twice this.
	CheckinInterval time.Duration
	// Metrics serves /metrics: every organisation's activity, so to
	// MetricsToken's bearer when it is set, else only to a loopback peer
	// sending no X-Forwarded-For, Forwarded or X-Real-IP (a proxy on the
	// same host relays the internet's requests with one). MetricsHandler
	// serves them unguarded, for a private listener.
	Metrics      bool
	MetricsToken string
	// Registry receives the metrics (nil: a new registry, with the Go
	// and process collectors).
	Registry *prometheus.Registry
	// Blobs stores data set archives and bundles (nil: those routes
	// answer 503). UploadTimeout bounds one archive upload or bundle
	// download (0: 1h); MaxAttempts is a job's attempts when its request
	// names none (0: 3).
	Blobs         Blobs
	UploadTimeout time.Duration
	MaxAttempts   int
	// Releases is the TUF repository served at /tuf/ and published to
	// by POST /v1/releases (nil: those routes answer 503). When it is a
	// prometheus.Collector, its metrics are registered too. Target
	// downloads and publications are bounded by UploadTimeout.
	Releases Releases
	// Catalog lists the repository's releases for rollouts (nil: Releases
	// when it implements Catalog, as *releases.Service does; else
	// creating a rollout answers 503).
	Catalog Catalog
	// AuthCache keeps looked-up principals for a few seconds so that
	// most requests need no credential lookup (nil: every request looks
	// its credential up). New makes the store flush it after each
	// revocation the store commits (store.Store.OnRevoke) and registers
	// its metrics; it serves entries only while its Listen runs, which is
	// the caller's to start and stop.
	AuthCache *authcache.Cache
}

// API is the HTTP handler of rig-cloud. Make it with New; it is safe for
// concurrent use.
type API struct {
	st      *store.Store
	log     *slog.Logger
	opt     Options
	lim     *limiters    // per credential
	orgLim  *limiters    // per organisation, after lim
	ipLim   *limiters    // per client address: enrollment
	failLim *failLimiter // per client address and IPv6 /48: failed authentication
	known   *credSet     // credentials that authenticated, enrollment tokens made here (checkCredential)
	lookups *lookupSlots // lookups of unknown credentials in flight per client address (checkCredential)
	reg     *prometheus.Registry
	engine  *gin.Engine
	readyC  readiness // /health/ready's last check (health.go)

	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	items    *prometheus.CounterVec
	// rateLimited counts 429s of the request-rate buckets by scope.
	rateLimited *prometheus.CounterVec
	// quotaRefusals counts requests refused by an organisation quota
	// (store.QuotaError), by quota.
	quotaRefusals *prometheus.CounterVec
	// firmwareMismatches counts check-ins whose reported firmware digest
	// is not their rig's registered one (store.CheckinRecord).
	firmwareMismatches prometheus.Counter
}

// Context keys.
const (
	keyRequestID = "request_id"
	keyPrincipal = "principal"
)

// New builds the API on st.
func New(st *store.Store, log *slog.Logger, o Options) *API {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = cloudapi.DefaultMaxBodyBytes
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.RateLimit <= 0 {
		o.RateLimit = 50
	}
	if o.RateBurst <= 0 {
		o.RateBurst = 100
	}
	if o.MaxLimiters <= 0 {
		o.MaxLimiters = 100_000
	}
	if o.OrgRateLimit <= 0 {
		o.OrgRateLimit = 10 * o.RateLimit
	}
	if o.OrgRateBurst <= 0 {
		o.OrgRateBurst = 10 * o.RateBurst
	}
	if o.AuthFailLimit <= 0 {
		o.AuthFailLimit = 1
	}
	if o.AuthFailBurst <= 0 {
		o.AuthFailBurst = 20
	}
	if o.EnrollmentTTL <= 0 {
		o.EnrollmentTTL = 24 * time.Hour
	}
	if o.MaxBatchItems <= 0 {
		o.MaxBatchItems = cloudapi.DefaultMaxBatchItems
	}
	if o.CheckinInterval <= 0 {
		o.CheckinInterval = 5 * time.Minute
	}
	if o.UploadTimeout <= 0 {
		o.UploadTimeout = time.Hour
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	a := &API{st: st, log: log, opt: o, reg: reg, lim: newLimiters(o.RateLimit, o.RateBurst, o.MaxLimiters),
		orgLim: newLimiters(o.OrgRateLimit, o.OrgRateBurst, o.MaxLimiters),
		ipLim:  newLimiters(o.RateLimit, o.RateBurst, o.MaxLimiters), failLim: newFailLimiter(o.AuthFailLimit, o.AuthFailBurst, o.MaxLimiters),
		known: newCredSet(o.MaxLimiters), lookups: newLookupSlots(unknownLookups, o.MaxLimiters),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_http_requests_total",
			Help: "HTTP requests by method, route template and status code."}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "rig_cloud_http_request_duration_seconds",
			Help: "HTTP request latency by method and route template.", Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)},
			[]string{"method", "route"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_http_rate_limited_total",
			Help: "Requests refused with 429 by a rate limit, by scope (credential, organisation, address)."}, []string{"scope"}),
		items: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_diagnoses_total",
			Help: "Diagnoses received from agents by item status (accepted, duplicate, conflict, rejected)."}, []string{"status"}),
	}
	for _, s := range []string{"credential", "organisation", "address"} {
		a.rateLimited.WithLabelValues(s)
	}
	reg.MustRegister(a.requests, a.latency, a.items, a.rateLimited)
	a.quotaRefusals = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rig_cloud_quota_refusals_total",
		Help: "Requests refused (409 quota-exceeded) because the organisation reached a quota, by quota (its config key)."}, []string{"quota"})
	for _, q := range []string{store.QuotaOpenUploads, store.QuotaQueuedJobs, store.QuotaLiveTokens, store.QuotaRigTypeVersions} {
		a.quotaRefusals.WithLabelValues(q)
	}
	reg.MustRegister(a.quotaRefusals)
	a.firmwareMismatches = prometheus.NewCounter(prometheus.CounterOpts{Name: "rig_cloud_checkin_firmware_mismatches_total",
		Help: "Agent check-ins whose reported firmware digest differs from their rig's registered firmware_digest."})
	reg.MustRegister(a.firmwareMismatches)
	if o.AuthCache != nil {
		st.OnRevoke(o.AuthCache.Flush)
		reg.MustRegister(o.AuthCache)
	}
	if c, ok := o.Releases.(prometheus.Collector); ok {
		reg.MustRegister(c)
	}
	a.engine = a.routes()
	return a
}

// MetricsHandler serves the API's metrics without a guard: for a listener
// of their own (server.metrics_listen).
func (a *API) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{})
}

// metricsGuard admits a /metrics request on the API's listener: with
// Options.MetricsToken as its bearer, or without a MetricsToken from a
// loopback peer sending no forwarding header (review r2 F4: the metrics
// were the internet's).
func (a *API) metricsGuard(c *gin.Context) {
	if tok := a.opt.MetricsToken; tok != "" {
		got := strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="rig-cloud metrics"`)
			abort(c, problem(cloudapi.ProblemUnauthorized, 401, "/metrics needs the metrics token (server.metrics_token) as bearer"))
			return
		}
		c.Next()
		return
	}
	ip := net.ParseIP(c.RemoteIP())
	fwd := c.GetHeader("X-Forwarded-For") != "" || c.GetHeader("Forwarded") != "" || c.GetHeader("X-Real-IP") != ""
	if ip == nil || !ip.IsLoopback() || fwd {
		forbidden(c, "/metrics answers only loopback clients without a proxy's forwarding header; set server.metrics_token or server.metrics_listen to scrape it from elsewhere")
		return
	}
	c.Next()
}

// ServeHTTP serves a request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.engine.ServeHTTP(w, r) }

func (a *API) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	// ClientIP believes forwarding headers only from the configured
	// proxies (Gin's default trusts every peer).
	if err := e.SetTrustedProxies(a.opt.TrustedProxies); err != nil {
		a.log.Error("trusted proxies ignored: none is trusted", "err", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.Use(a.requestID, a.observe, a.recover, a.deadline, plainURL)
	// The body budget (bodybudget.go) is reserved only once the request
	// has authenticated: unauthenticated bodies never hold it.
	budget := a.limitBodies()
	e.NoRoute(func(c *gin.Context) {
		abort(c, problem(cloudapi.ProblemNotFound, 404, "no route %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) {
		abort(c, problem(ProblemMethodNotAllowed, 405, "%s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	e.GET("/health/live", func(c *gin.Context) { c.JSON(200, gin.H{"status": "live"}) })
	e.GET("/health/ready", a.ready)
	if a.opt.Metrics {
		h := a.MetricsHandler()
		e.GET("/metrics", a.metricsGuard, func(c *gin.Context) { h.ServeHTTP(c.Writer, c.Request) })
	}
	e.GET("/openapi.json", a.openapi)

	// Enrollment authenticates with the enrollment token itself, checked
	// before the body is read.
	e.POST("/v1/agent/enroll", a.limitByIP, a.enrollToken, budget, a.enroll)

	v1 := e.Group("/v1", a.authenticate, a.rateLimit, budget)
	agent := v1.Group("/agent", a.agentOnly)
	agent.POST("/checkin", a.checkin)
	agent.POST("/diagnoses", a.diagnoses)
	agent.POST("/uploads", a.uploads)

	v1.POST("/orgs", a.systemOnly, a.createOrg)
	v1.GET("/orgs", a.tokenOnly, a.listOrgs)
	v1.GET("/orgs/:org", a.tokenOnly, a.getOrg)
	v1.POST("/orgs/:org/tokens", a.tokenOnly, a.createToken)
	v1.GET("/orgs/:org/tokens", a.tokenOnly, a.listOrgTokens)
	v1.GET("/tokens", a.tokenOnly, a.adminOrSystem, a.listTokens)
	v1.DELETE("/tokens/:id", a.tokenOnly, a.adminOrSystem, a.revokeToken)

	v1.POST("/sites", a.need(store.RoleOperator), a.createSite)
	v1.GET("/sites", a.need(store.RoleViewer), a.listSites)
	v1.POST("/rigs", a.need(store.RoleOperator), a.createRig)
	v1.GET("/rigs", a.need(store.RoleViewer), a.listRigs)
	v1.GET("/rigs/:rig", a.need(store.RoleViewer), a.getRig)
	v1.PATCH("/rigs/:rig", a.need(store.RoleOperator), a.editRig)
	v1.GET("/rigs/:rig/status", a.need(store.RoleViewer), a.rigStatus)
	v1.GET("/rigs/:rig/diagnoses", a.need(store.RoleViewer), a.rigDiagnoses)
	v1.GET("/rigs/:rig/components/:component/health", a.need(store.RoleViewer), a.componentHealth)
	v1.POST("/rigs/:rig/enrollments", a.need(store.RoleOperator), a.createEnrollment)
	v1.GET("/rigs/:rig/enrollments", a.need(store.RoleOperator), a.listEnrollments)
	v1.DELETE("/rigs/:rig/enrollments", a.need(store.RoleOperator), a.revokeEnrollments)
	v1.DELETE("/rigs/:rig/enrollments/:id", a.need(store.RoleOperator), a.revokeEnrollment)
	v1.GET("/agents", a.need(store.RoleViewer), a.listAgents)
	v1.POST("/agents/:agent/revoke", a.need(store.RoleOperator), a.revokeAgent)
	v1.GET("/alerts", a.need(store.RoleViewer), a.listAlerts)
	v1.POST("/alerts/:id/ack", a.need(store.RoleOperator), a.alertState(store.AlertAcknowledged))
	v1.POST("/alerts/:id/resolve", a.need(store.RoleOperator), a.alertState(store.AlertResolved))
	a.trainingRoutes(v1)
	a.releaseRoutes(e, v1)
	a.rolloutRoutes(v1)
	a.rigTypeRoutes(v1)
	return e
}

// --- middleware ---

func (a *API) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-Id")
	if id == "" || len(id) > 64 || !cloudapi.ValidID(id) {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id = "req-" + hex.EncodeToString(b[:])
	}
	c.Set(keyRequestID, id)
	c.Header("X-Request-Id", id)
	c.Next()
}

func (a *API) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	code := c.Writer.Status()
	a.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(code)).Inc()
	a.latency.WithLabelValues(c.Request.Method, route).Observe(d.Seconds())
	attrs := []any{"method", c.Request.Method, "route", route, "status", code,
		"duration_ms", float64(d.Microseconds()) / 1000, "bytes", c.Writer.Size(), "request_id", c.GetString(keyRequestID)}
	if p, ok := c.Get(keyPrincipal); ok {
		attrs = append(attrs, "principal", p.(*store.Principal).Key())
	}
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelWarn
	}
	a.log.Log(c.Request.Context(), level, "request", attrs...)
}

// plainURL refuses a request whose path or query holds a NUL byte or
// text that is not UTF-8 (400): nothing the API names can hold them, and
// PostgreSQL refuses them in a query (which would be a 500).
func plainURL(c *gin.Context) {
	bad := func(s string) bool { return strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) }
	if bad(c.Request.URL.Path) {
		badParam(c, "the path holds a NUL byte or text that is not UTF-8")
		return
	}
	if q := c.Request.URL.RawQuery; q != "" {
		for k, vs := range c.Request.URL.Query() {
			if bad(k) || slices.ContainsFunc(vs, bad) {
				badParam(c, "query parameter %q holds a NUL byte or text that is not UTF-8", strings.ToValidUTF8(strings.ReplaceAll(k, "\x00", ""), "?"))
				return
			}
		}
	}
	c.Next()
}

func (a *API) recover(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			a.log.Error("handler panicked", "request_id", c.GetString(keyRequestID), "route", c.FullPath(), "panic", fmt.Sprint(r))
			if !c.Writer.Written() {
				abort(c, problem(cloudapi.ProblemInternal, 500, "internal error (request %s)", c.GetString(keyRequestID)))
			}
		}
	}()
	c.Next()
}

func (a *API) deadline(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), a.opt.RequestTimeout)
	defer cancel()
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// authenticate looks the request's credential up, under the client
// address's buckets of failed authentications (checkCredential).
func (a *API) authenticate(c *gin.Context) {
	closeUnlessAdmitted(c)
	cred := bearerCredential(c)
	var p *store.Principal
	if !a.checkCredential(c, cred, func() (err error) {
		switch {
		case strings.HasPrefix(cred, store.PrefixAgent):
			p, err = a.opt.AuthCache.Lookup(c.Request.Context(), cred, a.st.AgentPrincipal)
		case strings.HasPrefix(cred, store.PrefixToken):
			p, err = a.opt.AuthCache.Lookup(c.Request.Context(), cred, a.st.TokenPrincipal)
		default:
			err = store.ErrBadCredential
		}
		return err
	}) {
		return
	}
	c.Set(keyPrincipal, p)
	admitted(c)
	c.Next()
}

// closeUnlessAdmitted answers Connection: close unless admitted is called
// next: a request refused before its body is read does not wait for the
// rest of its body (the server reads what is left of it before it
// answers on a connection it keeps: a body that never ends held the
// answer until the read timeout).
func closeUnlessAdmitted(c *gin.Context) {
	if c.Request.ContentLength != 0 {
		c.Header("Connection", "close")
	}
}

// admitted undoes closeUnlessAdmitted.
func admitted(c *gin.Context) { c.Writer.Header().Del("Connection") }

func (a *API) tooMany(c *gin.Context, who string, limit float64, burst int) {
	c.Header(cloudapi.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(1/limit))))
	abort(c, problem(cloudapi.ProblemRateLimited, 429, "%s: more than %g requests per second (burst %d)", who, limit, burst))
}

func (a *API) rateLimit(c *gin.Context) {
	p := principal(c)
	if !a.lim.allow(p.Key()) {
		a.rateLimited.WithLabelValues("credential").Inc()
		a.tooMany(c, "this credential", a.opt.RateLimit, a.opt.RateBurst)
		return
	}
	// All of an organisation's credentials share a bucket too: minting
	// tokens does not multiply its rate (review r2 F5).
	if p.OrgID != 0 && !a.orgLim.allow("o:"+strconv.FormatInt(p.OrgID, 10)) {
		a.rateLimited.WithLabelValues("organisation").Inc()
		a.tooMany(c, "this organisation", a.opt.OrgRateLimit, a.opt.OrgRateBurst)
		return
	}
	c.Next()
}

func (a *API) limitByIP(c *gin.Context) {
	if !a.ipLim.allow(addrKey(c.ClientIP())) {
		a.rateLimited.WithLabelValues("address").Inc()
		a.tooMany(c, "this address", a.opt.RateLimit, a.opt.RateBurst)
		return
	}
	c.Next()
}

func principal(c *gin.Context) *store.Principal {
	p, _ := c.Get(keyPrincipal)
	return p.(*store.Principal)
}

func (a *API) agentOnly(c *gin.Context) {
	if principal(c).Agent == nil {
		forbidden(c, "%s is for agent credentials", c.FullPath())
		return
	}
	c.Next()
}

func (a *API) tokenOnly(c *gin.Context) {
	switch p := principal(c); {
	case p.Agent != nil:
		forbidden(c, "an agent credential may only call /v1/agent/ routes")
	case p.Role == store.RoleRelease:
		forbidden(c, "a release token may only publish releases (POST /v1/releases)")
	default:
		c.Next()
	}
}

func (a *API) systemOnly(c *gin.Context) {
	if p := principal(c); p.Agent != nil || p.Role != store.RoleSystem {
		forbidden(c, "%s %s needs a system token", c.Request.Method, c.FullPath())
		return
	}
	c.Next()
}

// adminOrSystem admits an organisation's admin token or a system token
// (after tokenOnly).
func (a *API) adminOrSystem(c *gin.Context) {
	if p := principal(c); p.Role != store.RoleSystem && p.Role != store.RoleAdmin {
		forbidden(c, "%s %s needs role admin or a system token; this token is %s", c.Request.Method, c.FullPath(), p.Role)
		return
	}
	c.Next()
}

// need admits API tokens of an organisation with at least role.
func (a *API) need(role store.Role) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := principal(c)
		switch {
		case p.Agent != nil:
			forbidden(c, "an agent credential may only call /v1/agent/ routes")
		case p.Role == store.RoleSystem:
			forbidden(c, "a system token manages organisations only; use a token of the organisation")
		case p.Role == store.RoleRelease:
			forbidden(c, "a release token may only publish releases (POST /v1/releases)")
		case p.Role.Rank() < role.Rank():
			forbidden(c, "%s %s needs role %s or above; this token is %s", c.Request.Method, c.FullPath(), role, p.Role)
		default:
			c.Next()
		}
	}
}

// --- health ---

// ready answers whether the database is reachable and its schema up to
// date. A successful check is reused for a second, and a check finds a
// connection of its own when the pool is busy (health.go): a saturated
// pool does not fail it, an unreachable database does.
func (a *API) ready(c *gin.Context) {
	st, err := a.readyC.status(c.Request.Context(), a.st.Pool())
	switch {
	case err != nil:
		c.Header(cloudapi.HeaderRetryAfter, "5")
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "database unreachable"))
		a.log.Warn("not ready", "err", err)
	case len(st.Pending) > 0:
		c.Header(cloudapi.HeaderRetryAfter, "5")
		abort(c, problem(cloudapi.ProblemUnavailable, 503, "migrations %v are not applied (run rig-cloud migrate)", st.Pending))
	default:
		c.JSON(200, gin.H{"status": "ready", "schema_version": st.Latest})
	}
}

// --- bodies and parameters ---

// readJSON reads the body (cloudapi.ReadBody: media type, gzip, size) and
// decodes it strictly into v.
func (a *API) readJSON(c *gin.Context, v any) bool {
	body, err := cloudapi.ReadBody(c.Request, a.opt.MaxBodyBytes)
	if err != nil {
		a.fail(c, err)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		abort(c, problem(cloudapi.ProblemInvalidBody, 400, "%v", err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		abort(c, problem(cloudapi.ProblemInvalidBody, 400, "data after the JSON value"))
		return false
	}
	return true
}

func (a *API) readBody(c *gin.Context) ([]byte, bool) {
	body, err := cloudapi.ReadBody(c.Request, a.opt.MaxBodyBytes)
	if err != nil {
		a.fail(c, err)
		return nil, false
	}
	return body, true
}

// Page sizes of list routes.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

func badParam(c *gin.Context, format string, args ...any) {
	abort(c, problem(ProblemInvalidParameter, 400, format, args...))
}

// pageSize reads ?limit= (1..MaxPageSize; default DefaultPageSize).
func pageSize(c *gin.Context) (int, bool) {
	s := c.Query("limit")
	if s == "" {
		return DefaultPageSize, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxPageSize {
		badParam(c, "limit %q is not an integer in [1, %d]", s, MaxPageSize)
		return 0, false
	}
	return n, true
}

// idParam reads a positive integer path parameter.
func idParam(c *gin.Context, name string) (int64, bool) {
	s := c.Param(name)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 {
		badParam(c, "%s %q is not a positive integer", name, s)
		return 0, false
	}
	return n, true
}

// afterID reads ?cursor= as an id (list routes ordered by id).
func afterID(c *gin.Context) (int64, bool) {
	s := c.Query("cursor")
	if s == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		badParam(c, "cursor %q is not one this server made", s)
		return 0, false
	}
	return n, true
}

// idPage reads ?limit= (pageSize) and then ?cursor= (afterID) of a list
// ordered by id: cursor is the id the page starts after, or before in
// lists ordered newest first (0: the first page). ok is false when a
// problem has been answered.
func idPage(c *gin.Context) (limit int, cursor int64, ok bool) {
	if limit, ok = pageSize(c); !ok {
		return 0, 0, false
	}
	if cursor, ok = afterID(c); !ok {
		return 0, 0, false
	}
	return limit, cursor, true
}

// page answers a page of items with the cursor of the next page.
func page[T any](c *gin.Context, items []T, limit int, next func(T) string) {
	out := gin.H{"items": items}
	if items == nil {
		out["items"] = []T{}
	}
	if len(items) == limit {
		out["next_cursor"] = next(items[len(items)-1])
	}
	c.JSON(200, out)
}
