package forward

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Bytes other traffic spent (Spend) just before UTC midnight count for
// that day, not the next: the new day starts at 0.
func TestSpendBeforeMidnightCountsForThatDay(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 23, 59, 59, 0, time.UTC))
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) { o.BytesPerDay = 100_000 })
	f.Spend(30_000)
	assert.Equal(t, int64(60_000), f.Left())
	assert.Equal(t, int64(30_000), f.Stats().DayBytes)
	clock.Advance(2 * time.Second) // 00:00:01, the next UTC day
	assert.Equal(t, int64(90_000), f.Left(), "a new day")
	assert.Equal(t, int64(0), f.Stats().DayBytes, "a new day")
	stop := run(t, f)
	eventually(t, "a check-in", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = c.checkins })
		return n >= 1
	})
	stop()
	used := f.Stats().DayBytes
	assert.Positive(t, used, "the check-in counts")
	assert.Less(t, used, int64(30_000), "yesterday's bytes do not")
	day, saved := f.ob.loadDay()
	assert.Equal(t, dayOf(clock.Now()), day)
	assert.Equal(t, used, saved)
}

// A request that waits for the rate cap across UTC midnight goes out on
// the new day and counts for it: every request byte the cloud received
// on the new day is in the new day's count.
func TestThrottledAcrossMidnightCountsForTheNewDay(t *testing.T) {
	clock := newManualClock(time.Date(2025, 3, 1, 23, 59, 59, 0, time.UTC))
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) {
		o.BytesPerDay = 1 << 20
		o.BytesPerSecond = 600 // less than a check-in and its answer
	})
	enqueue(t, f, seqRange(1, 3), nil)
	stop := run(t, f)
	eventually(t, "a wait for the rate cap", func() bool { return len(clock.Sleeps()) > 0 && clock.Asleep() })
	clock.Advance(time.Hour) // the waiting request goes on the next UTC day
	eventually(t, "drained", func() bool {
		if clock.Asleep() {
			clock.Advance(10 * time.Second) // the rate cap's later waits
		}
		return f.Stats().Queued == 0
	})
	stop()
	var newDay int64
	c.get(func(c *fakeCloud) {
		for _, r := range c.requests {
			if r.at.Day() == 2 {
				newDay += r.wire + requestOverheadBytes
			}
		}
	})
	require.Positive(t, newDay)
	assert.GreaterOrEqual(t, f.Stats().DayBytes, newDay)
}

// A request never made because the credential cannot be read spends
// nothing of the day's budget.
func TestUnreadableCredentialSpendsNothing(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	f := newForwarder(t, c, "", func(o *Options) {
		o.BytesPerDay = 1 << 20
		o.Credential = func() (string, error) { return "", errors.New("no credential file") }
	})
	enqueue(t, f, seqRange(1, 3), nil)
	stop := run(t, f)
	eventually(t, "failed attempts", func() bool { return f.Stats().CredentialErrors >= 3 })
	stop()
	s := f.Stats()
	assert.Equal(t, uint64(0), s.Requests)
	assert.Equal(t, int64(0), s.DayBytes)
	_, saved := f.ob.loadDay()
	assert.Equal(t, int64(0), saved)
}
