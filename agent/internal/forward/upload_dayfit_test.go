package forward

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// Under a day's byte budget, upload parts are fitted to what the day
// leaves by their compressed size, which the budget counts, not by their
// readings' JSON (several times larger): the readings go in a few parts
// that use each day's budget, not in many small, shrinking ones, and no
// part takes more than what was left.
func TestUploadPartsFitTheDayBudgetCompressed(t *testing.T) {
	c, rd, clock := dayBudgetCloud(t, cloudapi.Limits{})
	path := filepath.Join(t.TempDir(), "outbox.db")
	// The readings' JSON is about 200 kB, about 36 kB compressed: about
	// three days' budget (outside the alert reserve) compressed, fourteen
	// uncompressed.
	const perDay = 16_000
	f := uploadVia(t, c, path, rd, c.srv.Client().Transport, func(o *Options) {
		o.BatchBytes = 1 << 20
		o.BytesPerDay = perDay
	})
	stop := run(t, f)
	advanceWhileDayCapped(t, c, f, clock, time.Hour, 30*24*time.Hour)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 3000, "every reading uploaded")
	for v, n := range got {
		if n != 1 {
			t.Errorf("reading %v stored %d times", v, n)
		}
	}
	allowance := int64(perDay * (1 - f.opts.AlertReserve))
	c.get(func(c *fakeCloud) {
		assert.LessOrEqual(t, len(c.parts), 5, "parts of about a day's budget each")
		spent := map[int]int64{}
		for _, r := range c.requests {
			spent[r.at.YearDay()] += r.wire + requestOverheadBytes
			if r.path == cloudapi.PathUploads {
				assert.LessOrEqual(t, r.wire+requestOverheadBytes+uploadAnswerBytes+responseOverheadBytes, allowance,
					"a part at %s", r.at)
			}
		}
		for d, n := range spent {
			assert.LessOrEqual(t, n, int64(perDay), "day %d", d)
		}
	})
}

// A part built anew for the day's budget (bounded by its first build,
// Through) of which not one reading fits what the day leaves, compressed,
// is not built at all: the forwarder waits for the budget rather than
// send an empty part that is not the last, which spends the budget for
// nothing.
func TestUploadPartBoundedWaitsWhenNoReadingFits(t *testing.T) {
	clock := newManualClock(dayBudgetStart)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 10 {
		// A long name that compresses little.
		rd.add("Q7f3kZ9pLm2xW8vR4tY6uB1nC5hJ0gDs", dayBudgetStart.Add(-time.Hour+time.Duration(i)*time.Second), dayBudgetValue(i))
	}
	f := uploadVia(t, c, "", rd, c.srv.Client().Transport, func(o *Options) { o.BytesPerDay = 100_000 })
	// The day leaves room to read in one reading (what is left beyond a
	// part's overhead, times maxUploadRatio), not for its part compressed
	// with its headers and answer; the next reading is after Through.
	f.Spend(f.Left() - partOverheadBytes - 4)
	u := &uploadState{
		Req:     cloudapi.UploadRequest{ID: "req-1", Kind: cloudapi.UploadReadings, From: dayBudgetStart.Add(-time.Hour), To: dayBudgetStart},
		Through: &partRange{EndSec: dayBudgetStart.Add(-time.Hour).Unix(), EndSeq: 1},
	}
	rs, p, o := f.buildPart(context.Background(), u)
	assert.Empty(t, rs)
	assert.Nil(t, p, "no part built")
	if assert.NotNil(t, o) {
		assert.Equal(t, classWaited, o.class)
	}
	assert.Equal(t, LinkDayCap, f.Stats().Link)
}
