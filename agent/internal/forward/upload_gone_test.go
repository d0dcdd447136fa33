package forward

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// An upload request the cloud no longer knows when a part reaches it
// (cancelled since the check-in that listed it: 404) ends at once, and
// is counted (UploadsGone) as a refusal handled at once, not a failure:
// the link stays up and diagnoses go on.
func TestUploadGoneIsCounted(t *testing.T) {
	clock := newManualClock(t0)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 300 {
		rd.add("PS1", t0.Add(-time.Hour+time.Duration(i)*time.Second), float64(i))
	}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{{ID: "req-1", Kind: cloudapi.UploadReadings, From: t0.Add(-time.Hour), To: t0}}
		c.limits = cloudapi.Limits{MaxUploadReadings: 100}
		c.next = 3600
	})
	// The request is cancelled just before part 1 reaches the cloud.
	tr := &refuseUploads{next: c.srv.Client().Transport, before: func(n int) {
		if n == 2 {
			c.set(func(c *fakeCloud) { c.uploadReqs = nil })
		}
	}}
	f := uploadVia(t, c, "", rd, tr)
	stop := run(t, f)
	defer stop()
	eventually(t, "the upload ended", func() bool {
		s := f.Stats()
		return s.UploadsGone > 0 && s.UploadsOpen == 0
	})
	enqueue(t, f, []uint64{1}, nil)
	eventually(t, "the diagnosis stored", func() bool {
		var n int
		c.get(func(c *fakeCloud) { n = len(c.stored) })
		return n == 1
	})
	s := f.Stats()
	assert.Equal(t, uint64(1), s.UploadsGone)
	assert.Zero(t, s.Failures, "a refusal handled at once")
	assert.Equal(t, LinkUp, s.Link)
	assert.Equal(t, uint64(1), s.UploadParts, "part 0 only")
	tr.mu.Lock()
	assert.Equal(t, 2, tr.parts, "part 1 not sent again")
	tr.mu.Unlock()
}
