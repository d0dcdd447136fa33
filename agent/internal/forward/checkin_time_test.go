package forward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A check-in held by the day cap until the next UTC day carries the time
// it went out, not the time it was built: the cloud computes the agent's
// clock skew from it.
func TestCheckinTimeStampedWhenSent(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 18, 0, 0, 0, time.UTC))
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BytesPerDay = 100_000 })
	f.Spend(99_900) // the day's budget (reserve included) is used up by other traffic
	stop := run(t, f)
	eventually(t, "a wait for the day cap", func() bool { return len(clock.Sleeps()) > 0 })
	clock.Advance(6 * time.Hour) // past midnight: the check-in goes out
	eventually(t, "a check-in", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n >= 1
	})
	stop()
	c.get(func(c *fakeCloud) {
		at := c.requests[len(c.requests)-1].at
		skew := c.lastIn.Time.Sub(at)
		assert.Less(t, skew.Abs(), time.Minute, "clock skew the cloud computes for a right clock (stamped %s, received %s)", c.lastIn.Time, at)
	})
}
