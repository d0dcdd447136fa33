package forward

import (
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failUploads is a transport that fails every upload part with a network
// error (the bytes count as spent) while on, counting the tries.
type failUploads struct {
	next  http.RoundTripper
	mu    sync.Mutex
	on    bool
	tries int
}

func (f *failUploads) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	fail := f.on && r.URL.Path == cloudapi.PathUploads
	if fail {
		f.tries++
	}
	f.mu.Unlock()
	if fail {
		return nil, errors.New("connection reset (on purpose)")
	}
	return f.next.RoundTrip(r)
}

// An upload part sized to what the day's budget left, whose failed tries
// (charged) leave too little for it, waits for the budget without holding
// up the rest: an alert queued meanwhile goes out the same day, and the
// part goes out, as first built, once the next day has room for it.
func TestUploadResendWaitsForTheDayBudget(t *testing.T) {
	start := time.Date(2025, 3, 1, 22, 0, 0, 0, time.UTC) // 2 h to midnight
	clock := newManualClock(start)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 3000 {
		rd.add("PS1", start.Add(-time.Hour+time.Duration(i)*time.Second), float64(i))
	}
	req := cloudapi.UploadRequest{ID: "req-1", Kind: cloudapi.UploadReadings, From: start.Add(-time.Hour), To: start}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{req}
		c.next = 3600
	})
	const perDay = 60_000
	tr := &failUploads{next: c.srv.Client().Transport, on: true}
	f := uploadVia(t, c, "", rd, tr, func(o *Options) {
		o.BytesPerDay = perDay
		o.BatchBytes = 1 << 20
	})
	stop := run(t, f)
	// The part no longer fits: the agent waits for the budget. The
	// clock moves on a second at a time while the forwarder sleeps
	// (backoffs after the failed tries).
	waits := func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.tries >= 2 && f.Stats().Link == LinkDayCap && clock.Asleep()
	}
	for !waits() {
		eventually(t, "the forwarder sleeps", func() bool { return waits() || clock.Asleep() })
		if !waits() {
			require.True(t, clock.Now().Before(start.Add(2*time.Hour)), "the part waits for the day's budget before midnight")
			clock.Advance(time.Second)
		}
	}
	enqueue(t, f, []uint64{1}, func(uint64) bool { return true })
	eventually(t, "the alert stored", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = len(c.stored) })
		return n == 1
	})
	c.get(func(c *fakeCloud) {
		for _, r := range c.requests {
			if r.path == cloudapi.PathDiagnoses {
				assert.Equal(t, start.Day(), r.at.Day(), "the alert went out the day it was queued, at %s", r.at)
			}
		}
	})
	tr.mu.Lock()
	tr.on = false
	tries := tr.tries
	tr.mu.Unlock()
	t.Logf("%d failed tries", tries)
	advanceWhileDayCapped(t, c, f, clock, time.Hour, 7*24*time.Hour)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 3000, "every reading uploaded")
	c.get(func(c *fakeCloud) {
		assert.Zero(t, c.partConflicts, "parts sent again as first built")
		require.NotEmpty(t, c.requests)
		spent := map[int]int64{}
		for _, r := range c.requests {
			spent[r.at.Day()] += r.wire + requestOverheadBytes
			if r.path == cloudapi.PathUploads {
				assert.NotEqual(t, start.Day(), r.at.Day(), "no part fitted the first day's budget after the failed tries")
			}
		}
		for d, n := range spent {
			assert.LessOrEqual(t, n, int64(perDay), "day %d", d)
		}
	})
}
