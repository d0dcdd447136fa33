package forward

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// dayBudgetStart is 20:00 UTC: 4 h to the first midnight.
var dayBudgetStart = time.Date(2025, 3, 1, 20, 0, 0, 0, time.UTC)

// dayBudgetValue is reading i's value, of many digits: parts compress
// less, so that an upload within the budget takes more than a day.
func dayBudgetValue(i int) float64 { return float64(i) + math.Sqrt(float64(i))/100 }

// dayBudgetCloud returns a cloud with limits, on a manual clock from
// dayBudgetStart (or on clock; advanceWhileDayCapped moves it), asking for
// the hour of readings before the clock's start (3000, one a second, of
// sensor PS1), and the buffer holding them and the clock.
func dayBudgetCloud(t *testing.T, limits cloudapi.Limits, clock ...*fastClock) (*fakeCloud, *memReadings, *fastClock) {
	if len(clock) == 0 {
		clock = append(clock, newManualClock(dayBudgetStart))
	}
	c := newCloud(t, clock[0])
	start := clock[0].Now()
	rd := &memReadings{}
	for i := range 3000 {
		rd.add("PS1", start.Add(-time.Hour+time.Duration(i)*time.Second), dayBudgetValue(i))
	}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{{ID: "req-1", Kind: cloudapi.UploadReadings, From: start.Add(-time.Hour), To: start}}
		c.limits = limits
		c.next = 86400
	})
	return c, rd, clock[0]
}

// A saved upload part larger than a whole day's byte budget (built
// without a day cap, which was set before the restart) would wait for
// ever, as first built, for a day with room for it. It is built anew,
// smaller (counted in UploadPartsRebuilt), and the upload goes on within
// the budget, day after day, with every reading, while an alert queued
// meanwhile goes out at once.
func TestUploadPartLargerThanADayIsRebuilt(t *testing.T) {
	c, rd, clock := dayBudgetCloud(t, cloudapi.Limits{})
	path := filepath.Join(t.TempDir(), "outbox.db")

	u, need := unsentPart(t, c, path, rd)
	require.Equal(t, 3000, u.Sending.Count)
	var before int // the first life's requests
	c.get(func(c *fakeCloud) { before = len(c.requests) })

	// Second life: the day's budget (outside the alert reserve) is 90 %
	// of what the saved part needs.
	perDay := need
	t.Logf("the saved part needs %d bytes", need)
	f := uploadVia(t, c, path, rd, c.srv.Client().Transport, func(o *Options) {
		o.BatchBytes = 1 << 20
		o.BytesPerDay = perDay
	})
	stop := run(t, f)
	enqueue(t, f, []uint64{1}, func(uint64) bool { return true })
	eventually(t, "the alert stored", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = len(c.stored) })
		return n == 1
	})
	advanceWhileDayCapped(t, c, f, clock, time.Hour, 30*24*time.Hour)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 3000, "every reading uploaded")
	for v, n := range got {
		if n != 1 {
			t.Errorf("reading %v stored %d times", v, n)
		}
	}
	s := f.Stats()
	assert.GreaterOrEqual(t, s.UploadPartsRebuilt, uint64(1))
	assert.Zero(t, s.UploadPartsRefused)
	c.get(func(c *fakeCloud) {
		assert.Zero(t, c.partConflicts)
		assert.Greater(t, len(c.parts), 1, "in smaller parts")
		spent := map[int]int64{}
		for _, r := range c.requests[before:] {
			spent[r.at.YearDay()] += r.wire + requestOverheadBytes
		}
		assert.Greater(t, len(spent), 1, "over more than one day")
		for d, n := range spent {
			assert.LessOrEqual(t, n, perDay, "day %d", d)
		}
	})
}

// The cloud may hold a part whose answer was lost: built anew smaller for
// the day's budget, it is answered "conflict" (the cloud keeps its first
// copy), and the request goes on after the new build's end, which is not
// after the first copy's: no reading is left out.
func TestUploadPartRebuiltAfterTheCloudKeptIt(t *testing.T) {
	c, rd, clock := dayBudgetCloud(t, cloudapi.Limits{MaxUploadReadings: 2000})
	path := filepath.Join(t.TempDir(), "outbox.db")

	// First life, no day cap: part 0 (2000 readings) reaches the cloud,
	// its answers never reach the agent.
	lose := &loseAnswers{next: c.srv.Client().Transport, n: 1 << 30}
	f := uploadVia(t, c, path, rd, lose, func(o *Options) { o.BatchBytes = 1 << 20 })
	stop := run(t, f)
	eventually(t, "part 0 stored", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = len(c.parts) })
		return n == 1
	})
	stop()
	u := f.openUpload()
	require.NotNil(t, u)
	require.NotNil(t, u.Sending)
	require.Equal(t, 2000, u.Sending.Count)
	require.False(t, u.Sending.Last)
	need := partNeed(t, f, u)
	require.NoError(t, f.Close())

	// Second life: the day's budget (outside the alert reserve) is 90 %
	// of what part 0 needs.
	f = uploadVia(t, c, path, rd, c.srv.Client().Transport, func(o *Options) {
		o.BatchBytes = 1 << 20
		o.BytesPerDay = need
	})
	stop = run(t, f)
	advanceWhileDayCapped(t, c, f, clock, time.Hour, 30*24*time.Hour)
	got := finishUpload(t, c, f, stop)
	var missing []int
	for i := range 3000 {
		if got[dayBudgetValue(i)] == 0 {
			missing = append(missing, i)
		}
	}
	assert.Empty(t, missing, "readings the cloud never got")
	s := f.Stats()
	assert.Equal(t, uint64(1), s.UploadPartsRebuilt)
	assert.Equal(t, uint64(1), s.UploadConflicts, "the smaller part 0: the cloud kept the first")
	assert.Zero(t, s.UploadReadingsLost)
}

// unsentPart runs a forwarder without a day cap on the outbox at path
// until it has built, saved and tried the first part of c's upload
// request, which never reaches c, and returns the part's state and what
// sending it takes of the day's budget (partNeed). The forwarder is
// closed.
func unsentPart(t *testing.T, c *fakeCloud, path string, rd *memReadings) (*uploadState, int64) {
	t.Helper()
	tr := &failUploads{next: c.srv.Client().Transport, on: true}
	f := uploadVia(t, c, path, rd, tr, func(o *Options) { o.BatchBytes = 1 << 20 })
	stop := run(t, f)
	eventually(t, "a try of the part", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.tries >= 1
	})
	stop()
	u := f.openUpload()
	require.NotNil(t, u)
	require.NotNil(t, u.Sending, "the part is saved")
	need := partNeed(t, f, u)
	require.NoError(t, f.Close())
	return u, need
}

// partNeed is what sending u's saved part takes of the day's budget.
func partNeed(t *testing.T, f *Forwarder, u *uploadState) int64 {
	t.Helper()
	rs, err := f.rebuildPart(context.Background(), u)
	require.NoError(t, err)
	body, err := json.Marshal(&cloudapi.Upload{AgentID: testAgent, RequestID: u.Req.ID, Part: u.Part, Last: u.Sending.Last, Readings: rs})
	require.NoError(t, err)
	return int64(len(gzipBody(body))) + requestOverheadBytes + uploadAnswerBytes + responseOverheadBytes
}

// A saved part that fits a whole day's budget but never what is left of
// it when its turn comes (here a model download takes most of each day's
// budget at the day's first check-in, and the agent checks in before
// anything else) would wait for ever. Once it has waited into a new UTC
// day and still does not fit, it is built anew to what that day left.
func TestUploadPartThatNeverFitsWhatADayLeavesIsRebuilt(t *testing.T) {
	day := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	clock := newManualClock(day)
	c, rd, _ := dayBudgetCloud(t, cloudapi.Limits{}, clock)
	c.set(func(c *fakeCloud) { c.next = 3600 }) // a check-in after each Advance of an hour
	path := filepath.Join(t.TempDir(), "outbox.db")

	u, need := unsentPart(t, c, path, rd)

	// Second life: a day's budget (outside the alert reserve) that the
	// part fits, uncompressed too; the download after the day's first
	// check-in leaves half of what the part needs.
	allowance := u.Sending.Bytes + partOverheadBytes + need
	var fw atomic.Pointer[Forwarder]
	spent := map[int]bool{}
	f := uploadVia(t, c, path, rd, c.srv.Client().Transport, func(o *Options) {
		o.BatchBytes = 1 << 20
		o.BytesPerDay = allowance * 2
		o.AlertReserve = 0.5              // room for the hourly check-ins
		o.Offer = func(*cloudapi.Offer) { // on Run's goroutine, after the check-in
			if f := fw.Load(); f != nil && !spent[clock.Now().YearDay()] {
				spent[clock.Now().YearDay()] = true
				f.Spend(f.Left() - need/2)
			}
		}
	})
	fw.Store(f)
	stop := run(t, f)
	// The clock moves on an hour whenever the forwarder waits for the
	// day's budget (it checked in first, and the download took its
	// share).
	advanceWhileDayCapped(t, c, f, clock, time.Hour, 60*24*time.Hour)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 3000, "every reading uploaded")
	assert.GreaterOrEqual(t, f.Stats().UploadPartsRebuilt, uint64(1))
}

// advanceWhileDayCapped moves the manual clock on by step whenever the
// forwarder f waits for it with the day's byte budget used up (link state
// day_cap), until c's upload is done; it fails the test after limit of
// the clock's time. The forwarder runs as far as it can at each time
// before the clock moves (fastClock.Asleep): how far it gets is not a
// matter of the machine's speed.
func advanceWhileDayCapped(t *testing.T, c *fakeCloud, f *Forwarder, clock *fastClock, step, limit time.Duration) {
	t.Helper()
	end := clock.Now().Add(limit)
	done := func() bool { return c.uploadDone() && f.Stats().UploadsOpen == 0 }
	for {
		eventually(t, "the forwarder waits for the budget", func() bool {
			return done() || clock.Asleep() && f.Stats().Link == LinkDayCap
		})
		if done() {
			return
		}
		if clock.Now().After(end) {
			t.Fatalf("the upload is not done after %s: %+v", limit, f.Stats())
		}
		clock.Advance(step)
	}
}
