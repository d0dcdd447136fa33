package update

import (
	"errors"
	"math"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"
)

// dayLog is a Budget that keeps the bytes spent per day (midnight starts
// the next) and lets a test server wait for the agent's spending.
type dayLog struct {
	mu    sync.Mutex
	left  int64
	days  []int64 // bytes spent per day, today last
	total int64
	wait  int64         // with ch: total to wait for
	ch    chan struct{} // closed once total reaches wait
}

func newDayLog(left int64) *dayLog { return &dayLog{left: left, days: []int64{0}} }

func (b *dayLog) Left() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.left
}

func (b *dayLog) Spend(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.left -= n
	b.days[len(b.days)-1] += n
	b.total += n
	if b.ch != nil && b.total >= b.wait {
		close(b.ch)
		b.ch = nil
	}
}

func (b *dayLog) spent() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

func (b *dayLog) set(left int64) {
	b.mu.Lock()
	b.left = left
	b.mu.Unlock()
}

func (b *dayLog) midnight() {
	b.mu.Lock()
	b.days = append(b.days, 0)
	b.mu.Unlock()
}

// waitSpent waits until the agent has spent total bytes in all, or gives
// up after a while (so that code that never spends them fails the test's
// checks instead of hanging), and returns the total spent.
func (b *dayLog) waitSpent(r *http.Request, total int64) int64 {
	b.mu.Lock()
	ch := make(chan struct{})
	if b.total >= total {
		close(ch)
	} else {
		b.wait, b.ch = total, ch
	}
	b.mu.Unlock()
	select {
	case <-ch:
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
	}
	return b.spent()
}

// sendPart starts a 200 answer of body's length and sends body[:n].
func sendPart(w http.ResponseWriter, body []byte, n int) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body[:n])
	w.(http.Flusher).Flush()
}

// TestDownloadSpendsAsBytesArrive: an archive's bytes count against the
// budget as they arrive, so a download running across midnight counts the
// bytes received before it for the old day (the previous code spent the
// whole download once, at its end, all for the new day).
func TestDownloadSpendsAsBytesArrive(t *testing.T) {
	f := newFixture(t, "1.0.0")
	f.release("1.1.0", nil, nil)
	b := newDayLog(math.MaxInt64 / 2)
	var mu sync.Mutex
	var meta, before int64 // bytes spent before the archive, and before midnight
	size := 0
	f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
		body, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			return false
		}
		half := len(body) / 2
		start := b.spent() // the metadata, fetched before the archive
		sendPart(w, body, half)
		// Each batch is spent once full: all but less than one batch of
		// the first half is spent before the rest comes.
		at := b.waitSpent(r, start+int64(half-spendBatch+1))
		b.midnight()
		mu.Lock()
		meta, before, size = start, at-start, len(body)
		mu.Unlock()
		w.Write(body[half:])
		return true
	}
	a := f.open(func(o *Options) { o.Budget = b })
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed {
		t.Fatalf("state %s: %s", st.State, st.LastError)
	}
	mu.Lock()
	defer mu.Unlock()
	if min := int64(size/2 - spendBatch + 1); before < min {
		t.Errorf("%d archive bytes counted before midnight, want at least %d of the %d received then", before, min, size/2)
	}
	if got := b.spent() - meta; got != int64(size) {
		t.Errorf("archive spent %d bytes in all, want its %d", got, size)
	}
	if b.days[0] != meta+before || b.days[1] != int64(size)-before {
		t.Errorf("days %v: want %d then %d", b.days, meta+before, int64(size)-before)
	}
}

// TestDownloadStopsWhenOthersSpendTheDay: when other traffic uses up the
// day's budget while an archive downloads, the download stops at its next
// batch with ErrBudget (part kept, no attempt counted) and resumes from
// there the next day; the archive's bytes are spent exactly once.
func TestDownloadStopsWhenOthersSpendTheDay(t *testing.T) {
	f := newFixture(t, "1.0.0")
	path := f.release("1.1.0", nil, nil)
	b := newDayLog(math.MaxInt64 / 2)
	var mu sync.Mutex
	var marks []int64 // spent at the start of each archive request
	size := 0
	f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
		start := b.spent()
		mu.Lock()
		marks = append(marks, start)
		first := len(marks) == 1
		mu.Unlock()
		if !first {
			return false // the resume, served with its Range
		}
		body, err := os.ReadFile(file)
		if err != nil {
			t.Error(err)
			return false
		}
		mu.Lock()
		size = len(body)
		mu.Unlock()
		sendPart(w, body, spendBatch)
		b.waitSpent(r, start+spendBatch)
		b.set(0) // the outbox spent the rest of the day
		w.Write(body[spendBatch:])
		return true
	}
	a := f.open(func(o *Options) { o.Budget = b })
	err := a.Cycle(t.Context())
	if !errors.Is(err, ErrBudget) {
		t.Fatalf("cycle: %v, want ErrBudget", err)
	}
	st := a.Status()
	fi, serr := os.Stat(a.partPath(st.Target.SHA256))
	mu.Lock()
	n := size
	archive1 := b.spent() - marks[0]
	mu.Unlock()
	if st.State != Downloading || st.Attempts[path] != 0 || serr != nil || fi.Size() < spendBatch || fi.Size() >= int64(n) {
		t.Fatalf("state %s, attempts %d, part %v (%v) of %d bytes", st.State, st.Attempts[path], fi, serr, n)
	}
	if archive1 != fi.Size() {
		t.Errorf("spent %d bytes of the archive, received %d", archive1, fi.Size())
	}
	b.set(math.MaxInt64 / 2) // the next day
	if err := a.Cycle(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st := a.Status(); st.State != Committed {
		t.Fatalf("after the resume: state %s: %s", st.State, st.LastError)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(marks) != 2 {
		t.Fatalf("%d archive requests, want 2", len(marks))
	}
	if got := archive1 + b.spent() - marks[1]; got != int64(n) {
		t.Errorf("archive spent %d bytes over both downloads, want its %d", got, n)
	}
}

var errAny = errors.New("any error")

// TestDownloadSpendsWhatArrives: only the bytes received count: a resume
// its Range; a whole file again when the server ignores the Range; nothing
// for a refused request; the one byte too many read from an archive longer
// than signed.
func TestDownloadSpendsWhatArrives(t *testing.T) {
	for _, tc := range []struct {
		name string
		// serve answers the second archive request (the first is cut
		// after 1000 bytes); false: the folder serves it.
		serve func(w http.ResponseWriter, r *http.Request, body []byte) bool
		want  func(size int64) int64 // archive bytes spent by both requests
		err   error                  // the second cycle's (errAny: any)
	}{
		{"resumed", nil, func(size int64) int64 { return size }, nil},
		{"range ignored", func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			w.Write(body)
			return true
		}, func(size int64) int64 { return 1000 + size }, nil},
		{"refused", func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}, func(int64) int64 { return 1000 }, errAny},
		{"too long", func(w http.ResponseWriter, r *http.Request, body []byte) bool {
			w.Header().Set("Content-Range", "bytes 1000-"+strconv.Itoa(len(body)+99)+"/*")
			w.WriteHeader(http.StatusPartialContent)
			w.Write(body[1000:])
			w.Write(make([]byte, 100))
			return true
		}, func(size int64) int64 { return size + 1 }, ErrTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "1.0.0")
			f.release("1.1.0", nil, nil)
			b := newDayLog(math.MaxInt64 / 2)
			var mu sync.Mutex
			var marks []int64
			size := 0
			f.intercept = func(w http.ResponseWriter, r *http.Request, file string) bool {
				body, err := os.ReadFile(file)
				if err != nil {
					t.Error(err)
					return false
				}
				mu.Lock()
				marks = append(marks, b.spent())
				first := len(marks) == 1
				size = len(body)
				mu.Unlock()
				if first {
					sendPart(w, body, 1000) // the link drops
					return true
				}
				return tc.serve != nil && tc.serve(w, r, body)
			}
			a := f.open(func(o *Options) { o.Budget = b })
			if err := a.Cycle(t.Context()); !errors.Is(err, ErrTruncated) {
				t.Fatalf("cut download: %v", err)
			}
			first := b.spent()
			err := a.Cycle(t.Context())
			if tc.err == nil && err != nil || tc.err != nil && (err == nil || tc.err != errAny && !errors.Is(err, tc.err)) {
				t.Fatalf("second cycle: %v, want %v", err, tc.err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(marks) != 2 {
				t.Fatalf("%d archive requests, want 2", len(marks))
			}
			got := first - marks[0] + b.spent() - marks[1]
			if want := tc.want(int64(size)); got != want {
				t.Errorf("archive spent %d bytes, want %d (archive %d bytes)", got, want, size)
			}
		})
	}
}
