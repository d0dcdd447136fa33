package forward

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
)

// refuseUploads is a transport that calls before for each upload part
// before passing it on, and answers status (when not 0) without passing
// it on, counting the parts.
type refuseUploads struct {
	next   http.RoundTripper
	mu     sync.Mutex
	parts  int
	before func(n int)
	status int
}

func (r *refuseUploads) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != cloudapi.PathUploads {
		return r.next.RoundTrip(req)
	}
	r.mu.Lock()
	r.parts++
	n := r.parts
	r.mu.Unlock()
	if r.before != nil {
		r.before(n)
	}
	if r.status != 0 {
		body, _ := json.Marshal(cloudapi.NewProblem(cloudapi.ProblemInvalidBody, r.status, "refused on purpose"))
		return &http.Response{StatusCode: r.status, Body: io.NopCloser(bytes.NewReader(body)),
			Header: http.Header{"Content-Type": {cloudapi.MediaProblem}}, Request: req}, nil
	}
	return r.next.RoundTrip(req)
}

// A part the cloud refuses as invalid (here 413: the cloud lowered
// max_body_bytes after the part was built) was not stored: the agent
// checks in for the current limits and builds the part anew, instead of
// sending the same bytes again until the request expires.
func TestUploadPartRefusedIsRebuilt(t *testing.T) {
	clock := newClock(t0, 1000)
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 300 {
		rd.add("PS1", t0.Add(time.Duration(i)*time.Second), float64(i))
	}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{{ID: "req-1", Kind: cloudapi.UploadReadings, From: t0, To: t0.Add(300 * time.Second)}}
		c.next = 3600
	})
	tr := &refuseUploads{next: c.srv.Client().Transport, before: func(n int) {
		if n == 1 { // the cloud lowers its body limit as the first part is on its way
			c.set(func(c *fakeCloud) { c.limits.MaxBodyBytes = 4000 })
		}
	}}
	f := uploadVia(t, c, "", rd, tr)
	stop := run(t, f)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 300, "every reading uploaded")
	s := f.Stats()
	assert.Equal(t, uint64(300), s.UploadReadings)
	assert.Equal(t, uint64(1), s.UploadPartsRefused, "the refusal is counted")
	assert.Equal(t, uint64(1), s.UploadPartsRebuilt)
	assert.Zero(t, s.Failures, "built anew at once: no failure, no backoff")
	tr.mu.Lock()
	sent := tr.parts
	tr.mu.Unlock()
	c.get(func(c *fakeCloud) {
		assert.Zero(t, c.partConflicts)
		assert.Greater(t, len(c.parts), 3, "parts within the lowered limit")
		assert.Equal(t, len(c.parts)+1, sent, "one refusal: the part as first built")
	})
}

// A part refused as invalid again once built anew is incompatible: the
// link says so and the part is not rebuilt a second time.
func TestUploadPartRefusedTwiceIsIncompatible(t *testing.T) {
	clock := newClock(t0, 1000)
	c, rd := uploadCloud(t, clock)
	tr := &refuseUploads{next: c.srv.Client().Transport, status: http.StatusUnprocessableEntity}
	f := uploadVia(t, c, "", rd, tr)
	stop := run(t, f)
	eventually(t, "incompatible", func() bool { return f.Stats().Link == LinkIncompatible })
	stop()
	s := f.Stats()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	assert.Equal(t, 2, tr.parts, "the first build and the one built anew")
	assert.Equal(t, uint64(tr.parts), s.UploadPartsRefused, "every refusal counted")
	assert.Equal(t, uint64(1), s.UploadPartsRebuilt)
	assert.Equal(t, uint64(tr.parts-1), s.Failures, "a refusal of the new build is a failure: kept, retried after a backoff")
	u := f.openUpload()
	if assert.NotNil(t, u) {
		assert.True(t, u.Rebuilt)
		assert.NotNil(t, u.Sending, "the new build is kept, and sent again after the backoff")
	}
}
