package forward

import (
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
