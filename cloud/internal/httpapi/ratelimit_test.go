package httpapi

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLimitersCapped(t *testing.T) {
	l := newLimiters(1, 2, 100)
	assert.True(t, l.allow("a"))
	assert.True(t, l.allow("a"))
	assert.False(t, l.allow("a"), "burst 2 spent")
	for i := range 500 {
		l.allow(fmt.Sprint("k", i))
	}
	assert.Equal(t, 100, l.len(), "the map never grows beyond its cap")
	assert.True(t, l.allow("a"), "a was dropped as least recently used and starts full")
}

// has tells whether a bucket holds a token without taking it.
func TestLimitersHas(t *testing.T) {
	l := newLimiters(0.001, 2, 100)
	for range 3 {
		assert.True(t, l.has("a"), "has takes nothing")
	}
	assert.True(t, l.allow("a"))
	assert.True(t, l.has("a"))
	assert.True(t, l.allow("a"))
	assert.False(t, l.has("a"), "burst 2 spent")
	assert.False(t, l.allow("a"))
}

// Buckets that have refilled completely are dropped as new ones come, so
// the map shrinks back below its cap once their keys go quiet.
func TestLimitersDropIdle(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiters(1, 2, 100)
	l.now = func() time.Time { return now }
	for i := range 50 {
		l.allow(fmt.Sprint("k", i))
	}
	assert.Equal(t, 50, l.len())
	now = now.Add(time.Second) // each bucket has refilled
	for i := range 10 {
		l.allow(fmt.Sprint("new", i))
	}
	assert.Equal(t, 40, l.len(), "each new bucket dropped two idle ones")
	l.allow("spent")
	l.allow("spent")
	for i := range 50 {
		l.allow(fmt.Sprint("more", i))
	}
	assert.Equal(t, 61, l.len(), "the 30 idle ones dropped, the 10 new ones (not refilled) kept")
	assert.False(t, l.allow("spent"), "a bucket not yet refilled is kept while the map is under its cap")
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":                 "ip:192.0.2.1",
		"::ffff:192.0.2.1":          "ip:192.0.2.1",
		"2001:db8:1:2:3:4:5:6":      "ip:2001:db8:1:2::/64",
		"2001:db8:1:2::1%eth0":      "ip:2001:db8:1:2::/64",
		"::1":                       "ip:::/64",
		"not an address":            "ip:not an address",
		"2001:db8:1:2:ffff::ffff:1": "ip:2001:db8:1:2::/64",
	} {
		assert.Equal(t, want, addrKey(in), in)
	}
}

func TestSiteKey(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8:1:2:3:4:5:6": "ip6:2001:db8:1::/48",
		"2001:db8:1:ffff::1":   "ip6:2001:db8:1::/48",
		"2001:db8:1::1%eth0":   "ip6:2001:db8:1::/48",
		"192.0.2.1":            "",
		"::ffff:192.0.2.1":     "",
		"not an address":       "",
	} {
		assert.Equal(t, want, siteKey(in), in)
	}
}

// The /48 bucket holds siteFactor times the address's: failures of many
// /64s of one /48 spend it, then every /64 of it is refused while other
// /48s and IPv4 addresses are not. check takes no token; spend takes one
// of each level that has one.
func TestFailLimiterTwoLevels(t *testing.T) {
	f := newFailLimiter(0.001, 2, 1000)
	k := func(ip string) failKeys { return failKeysOf(ip) }
	for n := range siteFactor {
		for range 2 {
			assert.Nil(t, f.check(k(fmt.Sprintf("2001:db8:1:%x::1", n))))
			f.spend(k(fmt.Sprintf("2001:db8:1:%x::1", n)))
		}
		r := f.check(k(fmt.Sprintf("2001:db8:1:%x::1", n)))
		if assert.NotNil(t, r, "the /64's own bucket") && n < siteFactor-1 {
			assert.Equal(t, "this address: failed authentications", r.who)
		}
	}
	fresh := k("2001:db8:1:abcd::1")
	r := f.check(fresh)
	if assert.NotNil(t, r) {
		assert.Equal(t, refusal{who: "this address's /48: failed authentications", limit: 0.016, burst: 32}, *r)
	}
	assert.Nil(t, f.check(k("2001:db8:2::1")), "another /48")
	for range 5 {
		assert.Nil(t, f.check(k("192.0.2.1")), "IPv4 has no /48; check takes nothing")
	}
	f.spend(k("192.0.2.1"))
	assert.Nil(t, f.check(k("192.0.2.1")))
	f.spend(k("192.0.2.1"))
	assert.NotNil(t, f.check(k("192.0.2.1")), "its burst of 2 spent")

	// spend counts where it can (here the fresh /64's own bucket, the
	// /48's being spent); each level stays capped.
	f.spend(fresh)
	f.spend(fresh)
	f.spend(fresh)
	f.site.now = func() time.Time { return time.Now().Add(time.Hour) } // the /48 has refilled
	r = f.check(fresh)
	if assert.NotNil(t, r, "the fresh /64's own failures counted") {
		assert.Equal(t, "this address: failed authentications", r.who)
	}
	for i := range 3000 {
		f.spend(k(fmt.Sprintf("2001:db8:%x:%x::1", 100+i, i)))
	}
	assert.Equal(t, 1000, f.addr.len())
	assert.Equal(t, 1000, f.site.len())
}
