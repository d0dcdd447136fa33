package forward

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// A saved upload part larger than a whole day's byte budget (built
// without a day cap, which was set before the restart) would wait for
// ever, as first built, for a day with room for it. It is built anew,
// smaller (counted in UploadPartsRebuilt), and the upload goes on within
// the budget, day after day, with every reading, while an alert queued
// meanwhile goes out at once.
func TestUploadPartLargerThanADayIsRebuilt(t *testing.T) {
	start := time.Date(2025, 3, 1, 20, 0, 0, 0, time.UTC)
	clock := newClock(start, 20_000) // a day in about 4 s
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 3000 {
		// Values of many digits: the part compresses about as little as
		// it is sized (uncompressed), so that a few days take it.
		rd.add("PS1", start.Add(-time.Hour+time.Duration(i)*time.Second), float64(i)+math.Sqrt(float64(i))/100)
	}
	req := cloudapi.UploadRequest{ID: "req-1", Kind: cloudapi.UploadReadings, From: start.Add(-time.Hour), To: start}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{req}
		c.next = 86400
	})
	path := filepath.Join(t.TempDir(), "outbox.db")

	// First life, no day cap: the part (every reading) is built, saved
	// and tried, and never reaches the cloud.
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
	require.Equal(t, 3000, u.Sending.Count)
	rs, err := f.rebuildPart(context.Background(), u)
	require.NoError(t, err)
	body, err := json.Marshal(&cloudapi.Upload{AgentID: testAgent, RequestID: req.ID, Part: u.Part, Last: u.Sending.Last, Readings: rs})
	require.NoError(t, err)
	need := int64(len(gzipBody(body))) + requestOverheadBytes + uploadAnswerBytes + responseOverheadBytes
	require.NoError(t, f.Close())
	var before int // the first life's requests
	c.get(func(c *fakeCloud) { before = len(c.requests) })

	// Second life: the day's budget (outside the alert reserve) is 90 %
	// of what the saved part needs.
	perDay := need
	t.Logf("the saved part needs %d bytes, %d readings", need, len(rs))
	tr.mu.Lock()
	tr.on = false
	tr.mu.Unlock()
	f = uploadVia(t, c, path, rd, tr, func(o *Options) {
		o.BatchBytes = 1 << 20
		o.BytesPerDay = perDay
	})
	stop = run(t, f)
	enqueue(t, f, []uint64{1}, func(uint64) bool { return true })
	eventually(t, "the alert stored", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = len(c.stored) })
		return n == 1
	})
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
