package forward

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// loseAnswers is a transport that delivers requests but loses the answer
// of the first n upload parts (the cloud stored them, the agent sees a
// network error), calling lost after each.
type loseAnswers struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    int
	lost func()
}

func (l *loseAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err != nil || r.URL.Path != cloudapi.PathUploads {
		return resp, err
	}
	l.mu.Lock()
	lose := l.n > 0
	if lose {
		l.n--
	}
	l.mu.Unlock()
	if !lose {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if l.lost != nil {
		l.lost()
	}
	return nil, errors.New("connection reset (answer lost on purpose)")
}

// uploadCloud returns a cloud asking for readings 0-299 (one a second
// from t0) in parts of at most 100, and the buffer holding them.
func uploadCloud(t *testing.T, clock *fastClock) (*fakeCloud, *memReadings) {
	c := newCloud(t, clock)
	rd := &memReadings{}
	for i := range 300 {
		rd.add("PS1", t0.Add(time.Duration(i)*time.Second), float64(i))
	}
	req := cloudapi.UploadRequest{ID: "req-1", Kind: cloudapi.UploadReadings, From: t0, To: t0.Add(300 * time.Second)}
	c.set(func(c *fakeCloud) {
		c.uploadReqs = []cloudapi.UploadRequest{req}
		c.limits = cloudapi.Limits{MaxUploadReadings: 100}
		c.next = 1
	})
	return c, rd
}

// uploadVia returns a forwarder with the outbox at path (none if "")
// that reads rd and reaches c through tr; mod, if any, changes its other
// options.
func uploadVia(t *testing.T, c *fakeCloud, path string, rd *memReadings, tr http.RoundTripper, mod ...func(*Options)) *Forwarder {
	t.Helper()
	return newForwarder(t, c, path, func(o *Options) {
		o.Readings = rd
		o.HTTPClient = &http.Client{Transport: tr}
		for _, m := range mod {
			m(o)
		}
	})
}

// finishUpload waits until c's upload request is done and f has no
// upload open, stops f (stop is run's), and returns storedValues.
func finishUpload(t *testing.T, c *fakeCloud, f *Forwarder, stop func()) map[float64]int {
	t.Helper()
	eventually(t, "upload done", func() bool { return c.uploadDone() && f.Stats().UploadsOpen == 0 })
	stop()
	return storedValues(t, c)
}

// storedValues returns the values of the readings the cloud stored and
// logs its parts.
func storedValues(t *testing.T, c *fakeCloud) map[float64]int {
	got := map[float64]int{}
	c.get(func(c *fakeCloud) {
		for _, p := range c.parts {
			t.Logf("stored part %d: %d readings, last=%v", p.Part, len(p.Readings), p.Last)
			for _, r := range p.Readings {
				got[r.Value]++
			}
		}
	})
	return got
}

// A part the cloud stored but whose answer was lost is sent again exactly
// as first built, although the buffer evicted its oldest readings
// meanwhile: the cloud keeps the first copy of a part number (a replay is
// "duplicate"), so a rebuilt part holding other readings would lose those
// the first copy did not hold. The retry lacks the evicted readings, so
// the cloud answers "conflict" (it kept the first copy): the agent counts
// it, neither loops nor ends the request, and goes on with the next part.
func TestUploadRetrySendsTheSamePart(t *testing.T) {
	clock := newClock(t0, 1000)
	c, rd := uploadCloud(t, clock)
	evicted := false
	tr := &loseAnswers{next: c.srv.Client().Transport, n: 1, lost: func() {
		if !evicted { // the buffer evicts its 50 oldest readings while the agent backs off
			evicted = true
			rd.evict(50)
		}
	}}
	f := uploadVia(t, c, "", rd, tr)
	stop := run(t, f)
	got := finishUpload(t, c, f, stop)
	var missing []int
	for i := range 300 { // the first part held 0-99 before the eviction
		if got[float64(i)] == 0 {
			missing = append(missing, i)
		}
	}
	assert.Empty(t, missing, "readings the cloud never got")
	s := f.Stats()
	assert.Equal(t, uint64(0), s.UploadReadingsLost, "the cloud had the first copy: nothing lost")
	assert.Equal(t, uint64(300), s.UploadReadings, "%+v", s)
	assert.Equal(t, uint64(1), s.UploadConflicts, "the retry without the evicted readings")
	assert.Equal(t, uint64(3), s.UploadParts)
	c.get(func(c *fakeCloud) {
		assert.Equal(t, 1, c.partConflicts, "part 0 sent once more: no loop")
		assert.Len(t, c.parts, 3)
	})
}

// A part whose first try never reached the cloud, and whose readings the
// buffer evicted before the retry, is sent with the readings left: the
// loss is counted and the rest of the request goes on.
func TestUploadRetryCountsEvictedReadings(t *testing.T) {
	clock := newClock(t0, 1000)
	c, rd := uploadCloud(t, clock)
	// The first try of part 0 is refused; the buffer evicts 30 of its
	// readings before the retry.
	tr := &refuseFirstUpload{next: c.srv.Client().Transport, refused: func() {
		rd.evict(30)
	}}
	f := uploadVia(t, c, "", rd, tr)
	stop := run(t, f)
	got := finishUpload(t, c, f, stop)
	assert.Len(t, got, 270, "every reading the buffer still held")
	c.get(func(c *fakeCloud) {
		require.NotEmpty(t, c.parts)
		assert.Equal(t, 70, len(c.parts[0].Readings), "part 0 is the range first built, less what was evicted")
	})
	s := f.Stats()
	assert.Equal(t, uint64(30), s.UploadReadingsLost)
	assert.Equal(t, uint64(270), s.UploadReadings)
}

// refuseFirstUpload answers the first upload part with 503 without
// passing it on, calling refused.
type refuseFirstUpload struct {
	next    http.RoundTripper
	mu      sync.Mutex
	done    bool
	refused func()
}

func (r *refuseFirstUpload) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	first := !r.done && req.URL.Path == cloudapi.PathUploads
	if first {
		r.done = true
	}
	r.mu.Unlock()
	if !first {
		return r.next.RoundTrip(req)
	}
	r.refused()
	return &http.Response{StatusCode: 503, Body: http.NoBody, Header: http.Header{}, Request: req}, nil
}

// A restart between a part's lost answer and its retry sends the same
// part: its range is in the outbox.
func TestUploadRetryAfterRestartSendsTheSamePart(t *testing.T) {
	clock := newClock(t0, 1000)
	c, rd := uploadCloud(t, clock)
	path := filepath.Join(t.TempDir(), "outbox.db")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The agent stops as the answer is lost, before it can retry.
	tr := &loseAnswers{next: c.srv.Client().Transport, n: 1, lost: cancel}
	f := uploadVia(t, c, path, rd, tr)
	require.NoError(t, f.Run(ctx))
	require.NoError(t, f.Close())
	c.get(func(c *fakeCloud) { require.Len(t, c.parts, 1, "part 0 stored") })
	rd.evict(50) // evicted while the agent was down
	f = newForwarder(t, c, path, func(o *Options) { o.Readings = rd })
	stop := run(t, f)
	got := finishUpload(t, c, f, stop)
	var wrong []int
	for i := range 300 {
		if got[float64(i)] != 1 {
			wrong = append(wrong, i)
		}
	}
	assert.Empty(t, wrong, "readings not stored exactly once")
}
