package forward

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkinRequests counts the check-ins the cloud saw (accepted or not).
func checkinRequests(c *fakeCloud) int {
	n := 0
	c.get(func(c *fakeCloud) {
		for _, r := range c.requests {
			if r.path == cloudapi.PathCheckin {
				n++
			}
		}
	})
	return n
}

// An update error cut at MaxTextLen bytes inside a multi-byte character
// (as the agent's describe did) became longer than MaxTextLen in JSON
// (each stray byte a U+FFFD) and the cloud refused the check-in; the
// forwarder clips it to whole characters and the check-in is accepted.
func TestCheckinClipsTextsToWholeCharacters(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	lastErr := strings.Repeat("x", cloudapi.MaxTextLen-1) + "€ more text"
	describe := func(r *cloudapi.CheckinRequest) {
		r.Update = &cloudapi.UpdateStatus{State: "failed", Installed: "v1", LastError: lastErr[:cloudapi.MaxTextLen], Changed: t0}
	}
	f := newForwarder(t, c, "", func(o *Options) { o.Describe = describe })
	enqueue(t, f, seqRange(1, 10), nil)
	stop := run(t, f)
	eventually(t, "diagnoses sent", func() bool { return f.Stats().Accepted == 10 })
	stop()
	c.get(func(c *fakeCloud) {
		require.NotNil(t, c.lastIn, "a check-in accepted")
		require.NotNil(t, c.lastIn.Update)
		le := c.lastIn.Update.LastError
		assert.True(t, utf8.ValidString(le))
		assert.Equal(t, strings.Repeat("x", cloudapi.MaxTextLen-1), le)
	})
	assert.Zero(t, f.Stats().CheckinsRefused)
}

// A check-in the cloud refuses (400) does not stop the diagnoses: the
// forwarder counts it, sends on with the last limits and checks in again
// at the regular interval.
func TestRefusedCheckinDoesNotStopDiagnoses(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	describe := func(r *cloudapi.CheckinRequest) {
		r.RigID = strings.Repeat("r", cloudapi.MaxNameLen+1) // required: nothing the agent can leave out
	}
	f := newForwarder(t, c, "", func(o *Options) { o.Describe = describe; o.Checkin = time.Minute })
	enqueue(t, f, seqRange(1, 10), nil)
	stop := run(t, f)
	eventually(t, "diagnoses sent", func() bool { return f.Stats().Accepted == 10 })
	eventually(t, "check-ins retried", func() bool { return checkinRequests(c) >= 3 })
	enqueue(t, f, seqRange(11, 20), nil)
	eventually(t, "more diagnoses sent", func() bool { return f.Stats().Accepted == 20 })
	stop()
	s := f.Stats()
	assert.GreaterOrEqual(t, s.CheckinsRefused, uint64(3))
	assert.Equal(t, LinkUp, s.Link)
	c.get(func(c *fakeCloud) { assert.Zero(t, c.checkins, "no check-in accepted") })
}

// An agent whose clock is before 2000 (no real-time clock, before NTP)
// still checks in: the request's times are moved into the range the
// cloud accepts rather than refused forever.
func TestCheckinWithClockBefore2000(t *testing.T) {
	early := time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC)
	clock := newClock(early, 1000)
	c := newCloud(t, clock)
	describe := func(r *cloudapi.CheckinRequest) {
		w := early.Add(30 * time.Minute)
		r.Update = &cloudapi.UpdateStatus{State: "canary", Installed: "v1", Changed: early, WatchUntil: &w}
	}
	f := newForwarder(t, c, "", func(o *Options) { o.Describe = describe })
	stop := run(t, f)
	eventually(t, "a check-in accepted", func() bool {
		n := 0
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n > 0
	})
	stop()
	c.get(func(c *fakeCloud) {
		assert.Equal(t, cloudapi.MinTime, c.lastIn.Time)
		require.NotNil(t, c.lastIn.Update)
		assert.Equal(t, cloudapi.MinTime, c.lastIn.Update.Changed)
		assert.Nil(t, c.lastIn.Update.WatchUntil)
	})
	assert.Zero(t, f.Stats().CheckinsRefused)
}
