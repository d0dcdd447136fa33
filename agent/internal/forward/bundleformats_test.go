package forward

import (
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Every check-in says which bundle formats the agent reads; a cloud older
// than the field refuses it as unknown, and the agent checks in again
// without it (link up, offers still received), leaving it out for
// bundleFormatsRetry, then tries it again.
func TestCheckinBundleFormats(t *testing.T) {
	clock := newManualClock(t0)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", nil)
	stop := run(t, f)
	checkins := func() (n int, last *cloudapi.CheckinRequest) {
		c.get(func(c *fakeCloud) { n, last = c.checkins, c.lastIn })
		return n, last
	}
	eventually(t, "a check-in", func() bool { n, _ := checkins(); return n >= 1 })
	_, last := checkins()
	require.NotNil(t, last.BundleFormats)
	assert.Equal(t, cloudapi.BundleFormats{Min: bundle.MinFormatVersion, Max: bundle.FormatVersion}, *last.BundleFormats)
	stop()

	// A cloud older than the field.
	c2 := newCloud(t, clock)
	want := &cloudapi.Offer{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", Rollout: 7}
	c2.set(func(c *fakeCloud) { c.preFormats, c.offer = true, want })
	var got atomic.Pointer[cloudapi.Offer]
	f2 := newForwarder(t, c2, "", func(o *Options) { o.Offer = func(of *cloudapi.Offer) { got.Store(of) } })
	stop = run(t, f2)
	defer stop()
	checkins2 := func() (n, requests int, last *cloudapi.CheckinRequest) {
		c2.get(func(c *fakeCloud) { n, requests, last = c.checkins, len(c.requests), c.lastIn })
		return n, requests, last
	}
	eventually(t, "a check-in without the field", func() bool { n, _, _ := checkins2(); return n >= 1 })
	n, requests, last := checkins2()
	assert.Nil(t, last.BundleFormats)
	assert.Equal(t, 2, requests, "refused with the field, accepted without")
	eventually(t, "the link up", func() bool { return f2.Stats().Link == LinkUp })
	assert.Equal(t, uint64(0), f2.Stats().Failures, "the refusal is no failure")
	assert.Equal(t, want, got.Load(), "the answer is used")

	// Within bundleFormatsRetry: one request per check-in, without it.
	f2.CheckinSoon()
	eventually(t, "a second check-in", func() bool { m, _, _ := checkins2(); return m > n })
	n, r2, last := checkins2()
	assert.Nil(t, last.BundleFormats)
	assert.Equal(t, requests+1, r2)

	// After it, the field is tried again (the cloud upgraded meanwhile).
	c2.set(func(c *fakeCloud) { c.preFormats = false })
	clock.Advance(bundleFormatsRetry)
	f2.CheckinSoon()
	eventually(t, "a check-in with the field", func() bool { m, _, _ := checkins2(); return m > n })
	_, _, last = checkins2()
	require.NotNil(t, last.BundleFormats)
	assert.Equal(t, 2, last.BundleFormats.Max)
}
