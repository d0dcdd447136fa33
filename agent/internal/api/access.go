package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the per-client limit on POST /detector/recalibrate.
const (
	DefaultRecalibrateBurst = 3
	DefaultRecalibrateEvery = 20 * time.Second
	// maxLimitedClients caps the clients the limit tracks at once.
	maxLimitedClients = 1024
)

// ProblemRateLimited is the problem type of a 429 answer.
const ProblemRateLimited = "urn:hydrognn:agent:problem:rate-limited"

// openPaths are served without the bearer token: the probes of a
// supervisor (systemd, Kubernetes, a container runtime) that cannot be
// given a secret. They tell only whether the agent runs and is ready.
var openPaths = map[string]bool{"/health/live": true, "/health/ready": true}

// access holds the API's access rules and the counts of refusals
// (rig_agent_api_requests_refused_total).
type access struct {
	// tokenSum is the SHA-256 of the bearer token (nil: no token).
	tokenSum []byte
	// checkHost says whether the Host header is checked; hosts are the
	// names it may give besides localhost and loopback addresses.
	checkHost bool
	hosts     map[string]bool
	limit     *limiter

	refusedHost, refusedAuth, refusedRate atomic.Uint64
}

func newAccess(o Options) *access {
	a := &access{hosts: map[string]bool{}, limit: newLimiter(o.RecalibrateBurst, o.RecalibrateEvery, maxLimitedClients)}
	if o.Token != "" {
		sum := sha256.Sum256([]byte(o.Token))
		a.tokenSum = sum[:]
	}
	host, _, err := net.SplitHostPort(o.Listen)
	loopback := err == nil && (host == "localhost" || isLoopbackIP(host))
	a.checkHost = loopback || len(o.AllowedHosts) > 0
	if err == nil && host != "" {
		a.hosts[normHost(host)] = true
	}
	for _, h := range o.AllowedHosts {
		a.hosts[normHost(h)] = true
	}
	return a
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// normHost lowers a host name and drops brackets and a trailing dot.
func normHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(strings.Trim(h, "[]")), ".")
}

// hostAllowed reports whether a request's Host header may be served.
func (a *access) hostAllowed(hostHeader string) bool {
	if !a.checkHost {
		return true
	}
	h := hostHeader
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = normHost(h)
	return h == "localhost" || isLoopbackIP(h) || (h != "" && a.hosts[h])
}

// authorized reports whether r carries the bearer token (always true
// without one), comparing digests in constant time.
func (a *access) authorized(r *http.Request) bool {
	if a.tokenSum == nil {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(sum[:], a.tokenSum) == 1
}

// guard checks the Host header (against DNS rebinding: a web page whose
// name resolves to 127.0.0.1 sends its own name) and then the bearer
// token, before h serves the request.
func (s *Server) guard(h http.Handler) http.Handler {
	a := s.access
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.hostAllowed(r.Host) {
			a.refusedHost.Add(1)
			writeError(w, http.StatusForbidden, fmt.Sprintf("Host %q is not this agent's API (%s): use localhost, a loopback address or a name in api.allowed_hosts", r.Host, s.opts.Listen))
			return
		}
		if !openPaths[r.URL.Path] && !a.authorized(r) {
			a.refusedAuth.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="rig-agent"`)
			writeError(w, http.StatusUnauthorized, "send Authorization: Bearer TOKEN, the token of api.token_file")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// allowRecalibrate takes one of the client's recalibrations, or answers
// 429 with Retry-After and returns false.
func (s *Server) allowRecalibrate(w http.ResponseWriter, r *http.Request) bool {
	client, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		client = r.RemoteAddr
	}
	ok, wait := s.access.limit.allow(client, s.opts.Now())
	if ok {
		return true
	}
	s.access.refusedRate.Add(1)
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, http.StatusTooManyRequests, ProblemRateLimited, "Too many recalibrations",
		fmt.Sprintf("%s asked for more than %d recalibrations in a row (one more every %s): retry in %d s; nothing was changed",
			client, s.access.limit.burst, s.access.limit.every, secs))
	return false
}

// limiter is a token bucket per client: burst requests at once, then one
// every every. It tracks at most max clients: when full it forgets those
// whose bucket has refilled, then any one.
type limiter struct {
	burst int
	every time.Duration
	max   int

	mu      sync.Mutex
	clients map[string]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(burst int, every time.Duration, max int) *limiter {
	if burst <= 0 {
		burst = DefaultRecalibrateBurst
	}
	if every <= 0 {
		every = DefaultRecalibrateEvery
	}
	return &limiter{burst: burst, every: every, max: max, clients: map[string]bucket{}}
}

// allow takes a token of client's bucket at now, or returns how long
// until one is there.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.clients[client]
	if !ok {
		l.makeRoom(now)
		b = bucket{tokens: float64(l.burst), at: now}
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(float64(l.burst), b.tokens+float64(d)/float64(l.every))
		b.at = now
	}
	if b.tokens < 1 {
		l.clients[client] = b
		return false, time.Duration((1 - b.tokens) * float64(l.every))
	}
	b.tokens--
	l.clients[client] = b
	return true, 0
}

// makeRoom drops clients while the limiter is full (l.mu held).
func (l *limiter) makeRoom(now time.Time) {
	if len(l.clients) < l.max {
		return
	}
	full := time.Duration(l.burst) * l.every
	for c, b := range l.clients {
		if now.Sub(b.at) >= full {
			delete(l.clients, c)
		}
	}
	for c := range l.clients {
		if len(l.clients) < l.max {
			break
		}
		delete(l.clients, c)
	}
}
