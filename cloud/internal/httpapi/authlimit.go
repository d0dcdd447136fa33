package httpapi

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// siteFactor is how many times the per-address bucket of failed
// authentications (its rate and its burst) an IPv6 /48's aggregate bucket
// holds: one site is commonly given a /48, 65,536 /64s, each of which
// would otherwise be a bucket of its own.
const siteFactor = 16

// failLimiter holds the buckets of failed authentications of client
// addresses at two levels: one per address key (addrKey: an IPv4
// address, an IPv6 /64) and, for IPv6, one per /48 (siteKey) that the
// /64s within it share. A failure is counted in both; a request is
// refused when either is spent. Each level is capped at max buckets
// (limiters).
type failLimiter struct {
	addr *limiters
	site *limiters
}

func newFailLimiter(r float64, burst, max int) *failLimiter {
	return &failLimiter{addr: newLimiters(r, burst, max), site: newLimiters(r*siteFactor, burst*siteFactor, max)}
}

// failKeys are a client address's keys in a failLimiter; site is empty
// for an IPv4 address (and anything that does not parse).
type failKeys struct{ addr, site string }

func failKeysOf(ip string) failKeys { return failKeys{addr: addrKey(ip), site: siteKey(ip)} }

// siteKey is the key of an IPv6 address's /48 ("" for anything else,
// IPv4-mapped addresses included).
func siteKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.Unmap().WithZone("")
	if !a.Is6() {
		return ""
	}
	p, err := a.Prefix(48)
	if err != nil {
		return ""
	}
	return "ip6:" + p.String()
}

// refusal names the bucket that refused a request, with its limits, for
// tooMany.
type refusal struct {
	who   string
	limit float64
	burst int
}

// check reports whether k's address bucket and its /48's both hold a
// token, taking none: nil when they do, else the bucket that is spent.
func (f *failLimiter) check(k failKeys) *refusal {
	if !f.addr.has(k.addr) {
		return &refusal{who: "this address: failed authentications", limit: f.addr.rate, burst: int(f.addr.burst)}
	}
	if k.site != "" && !f.site.has(k.site) {
		return &refusal{who: "this address's /48: failed authentications", limit: f.site.rate, burst: int(f.site.burst)}
	}
	return nil
}

// spend counts a failure: it takes a token of each of k's buckets that
// has one.
func (f *failLimiter) spend(k failKeys) {
	f.addr.allow(k.addr)
	if k.site != "" {
		f.site.allow(k.site)
	}
}

// checkCredential runs lookup, which checks cred (a bearer credential or
// an enrollment token), under the client address's buckets of failed
// authentications (failLim). A credential not known to this API (one that
// has not authenticated before, or an enrollment token it did not make:
// known) is looked up only while the buckets hold a token (check), and
// only a lookup that does not find it valid counts (spend): valid
// credentials never spend the buckets, so any number of rigs behind one
// address (a NAT) enrolling at once, or agents coming back to a replica
// that restarted, all get in. When a bucket is spent, unknown credentials
// (and none) get 429 without a lookup, while known ones are still looked
// up: one client sending bad credentials does not lock out the others
// behind the same address, and no garbage credential reaches the
// database. A known credential refused by its lookup (revoked, expired,
// spent) counts and is forgotten.
//
// Lookups of unknown credentials run at most unknownLookups at once per
// address (its IPv6 /48 when it has one; lookupSlots), the others wait
// for a slot and check the buckets again once they have it: bad
// credentials sent together can pass the check before the first of them
// is counted, but no more than unknownLookups of them per token the
// bucket earns, and each is counted once answered.
//
// It answers (401, 429, or the lookup's error) and returns false unless
// the lookup found cred valid.
func (a *API) checkCredential(c *gin.Context, cred string, lookup func() error) bool {
	k := failKeysOf(c.ClientIP())
	known := cred != "" && a.known.has(cred)
	if !known {
		if r := a.failLim.check(k); r != nil {
			a.tooMany(c, r.who, r.limit, r.burst)
			return false
		}
		key := k.site
		if key == "" {
			key = k.addr
		}
		release := a.lookups.acquire(c.Request.Context(), key)
		if release == nil {
			c.Header(cloudapi.HeaderRetryAfter, "1")
			abort(c, problem(cloudapi.ProblemUnavailable, 503, "too many credential lookups waiting; try again"))
			return false
		}
		defer release()
		// Failures counted while this request waited for its slot.
		if r := a.failLim.check(k); r != nil {
			a.tooMany(c, r.who, r.limit, r.burst)
			return false
		}
	}
	if cred == "" {
		a.failLim.spend(k)
		unauthorized(c, "no credential: send Authorization: Bearer <token>")
		return false
	}
	err := lookup()
	switch {
	case err == nil:
		a.known.add(cred)
		return true
	case errors.Is(err, store.ErrBadCredential):
		a.known.remove(cred) // revoked, expired or spent since, if known
		a.failLim.spend(k)
	default:
		// Any other error (the database, a deadline, the client gone)
		// counts too: a lookup that did not authenticate is a failure,
		// or a client closing its connections mid-lookup, or a slow
		// database, would get lookups without end.
		if !known {
			a.failLim.spend(k)
		}
	}
	a.fail(c, err)
	return false
}

// bearerCredential is the request's Authorization: Bearer credential
// ("" when it has none).
func bearerCredential(c *gin.Context) string {
	cred, ok := strings.CutPrefix(c.GetHeader(cloudapi.HeaderAuthorization), "Bearer ")
	if !ok {
		return ""
	}
	return cred
}
