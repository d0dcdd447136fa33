package forward

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	berrors "go.etcd.io/bbolt/errors"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// maxResponseBytes bounds what the forwarder reads of a response.
const maxResponseBytes = 8 << 20

// Run sends queued diagnoses (and requested uploads) until ctx is done or
// Close is called, then returns nil. Call it once.
//
// An outbox failure (a read or write of the outbox file, the sequence
// floor's bookkeeping) does not stop it: the failure is logged and
// counted (Stats.OutboxErrors), and the step is tried again after a
// backoff from outboxRetryMin doubling to outboxRetryMax. Diagnoses stay
// in the history meanwhile, and the agent goes on diagnosing: a broken
// cloud link must not take the edge agent down. OutboxFailing reports
// the failures in a row, for the agent's readiness. A damaged outbox
// (an error wrapping ErrCorrupt) is no failure a retry mends: Run
// returns it at once, for the agent to stop for an operator.
func (f *Forwarder) Run(ctx context.Context) error {
	f.mu.Lock()
	switch {
	case f.closed:
		f.mu.Unlock()
		return ErrClosed
	case f.running:
		f.mu.Unlock()
		return errors.New("forward: Run called twice")
	}
	f.running = true
	done := make(chan struct{})
	f.runDone = done
	f.mu.Unlock()
	defer close(done)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	var (
		fails    int       // outbox failures in a row
		lastFail time.Time // the last one's time
	)
	clock := f.opts.Clock
	for ctx.Err() == nil {
		f.opts.Heartbeat.Beat()
		err := f.step(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			if fails > 0 && clock.Now().Sub(lastFail) > outboxRetryMax {
				fails = 0
			}
			f.noteOutbox(nil)
			continue
		}
		f.count(func(s *Stats) { s.OutboxErrors++ })
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) {
			err = corrupt(f.opts.Path, err)
		}
		if errors.Is(err, ErrCorrupt) {
			f.log.Error("forwarder: outbox file damaged; stopping", "error", err)
			return fmt.Errorf("forward: %w", err)
		}
		f.noteOutbox(err)
		fails++
		lastFail = clock.Now()
		wait := f.jitter(min(outboxRetryMin<<min(fails-1, 20), outboxRetryMax))
		f.log.Error("forwarder: outbox failed; diagnoses stay in the history, retrying", "error", err,
			"failures_in_a_row", fails, "retry_in", wait.String())
		_ = clock.Sleep(ctx, wait, nil)
	}
	return nil
}

// OutboxNotReadyAfter is how many outbox failures in a row of Run make
// the agent not ready (service.Agent.NotReady: /health/ready).
const OutboxNotReadyAfter = 3

// noteOutbox records a step's outbox outcome (err nil: it worked) for
// OutboxFailing.
func (f *Forwarder) noteOutbox(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		f.obFails, f.obFailSince, f.obFailErr = 0, time.Time{}, nil
		return
	}
	if f.obFails == 0 {
		f.obFailSince = f.opts.Clock.Now()
	}
	f.obFails++
	f.obFailErr = err
}

// OutboxFailing returns Run's outbox failures in a row (0: the last step
// worked), the time of the first of them and the last one's error.
func (f *Forwarder) OutboxFailing() (fails int, since time.Time, last error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.obFails, f.obFailSince, f.obFailErr
}

// Bounds of the wait before the forwarder tries again after an outbox
// failure (Run). Variables for the tests.
var (
	outboxRetryMin = time.Second
	outboxRetryMax = 5 * time.Minute
)

// errStore marks an outbox failure: Run backs off and tries again.
type errStore struct{ err error }

func (e errStore) Error() string { return e.err.Error() }

// step makes at most one request, or waits.
func (f *Forwarder) step(ctx context.Context) error {
	clock := f.opts.Clock
	if f.soon.Swap(false) || f.needCheckin || !clock.Now().Before(f.nextCheckin) {
		return f.storeErr(f.attempt(ctx, f.checkin(ctx)))
	}
	if f.ob.count() > 0 {
		return f.storeErr(f.attempt(ctx, f.sendDiagnoses(ctx)))
	}
	if u := f.openUpload(); u != nil {
		return f.storeErr(f.attempt(ctx, f.sendUploadPart(ctx, u)))
	}
	wait := f.nextCheckin.Sub(clock.Now())
	if wait > 0 {
		_ = clock.Sleep(ctx, wait, f.wake)
	}
	return nil
}

func (f *Forwarder) storeErr(err error) error {
	var se errStore
	if errors.As(err, &se) {
		return se.err
	}
	return nil
}

// result is the outcome of one request.
type result struct {
	status     int // 0: no response
	problem    *cloudapi.Problem
	retryAfter time.Duration
	hasRA      bool
	err        error // transport error, or what went wrong
	body       []byte
	unsent     bool // no request went out (the credential unreadable)
}

// failure classes.
type class int

const (
	classOK class = iota
	classRetry
	classAuth
	classIncompatible
	classInvalid // 400, 422, 413: split or reject
	classGone    // 404, 410: for uploads
	classWaited  // nothing sent: waited for a cap
)

func classify(r *result) class {
	switch {
	case r.err != nil && r.status == 0:
		return classRetry
	case r.status >= 200 && r.status < 300:
		return classOK
	case cloudapi.Retryable(r.status):
		return classRetry
	case r.status == http.StatusUnauthorized || r.status == http.StatusForbidden:
		return classAuth
	case r.status == http.StatusBadRequest || r.status == http.StatusUnprocessableEntity || r.status == http.StatusRequestEntityTooLarge:
		return classInvalid
	case r.status == http.StatusNotFound || r.status == http.StatusGone:
		return classGone
	}
	return classIncompatible
}

// outcome is what a request step tells attempt to do next.
type outcome struct {
	class class
	res   *result
	what  string
	err   error // an outbox error (Run backs off)
	// checkin marks a check-in's success, which does not end the
	// incompatible state.
	checkin bool
}

// attempt applies an outcome: success resets the backoff; failures set
// the link state and wait.
func (f *Forwarder) attempt(ctx context.Context, o outcome) error {
	if o.err != nil {
		return errStore{o.err}
	}
	if ctx.Err() != nil {
		return nil // stopping: not a failure of the link
	}
	switch o.class {
	case classOK:
		f.mu.Lock()
		stuck := f.st.Link == LinkIncompatible
		f.mu.Unlock()
		if o.checkin && stuck {
			// The cloud answers check-ins but refuses the data: still
			// incompatible, and the backoff goes on.
			return nil
		}
		f.fails = 0
		f.setLink(LinkUp, "")
		return nil
	case classInvalid, classGone, classWaited:
		// Handled by the caller (split, reject, end the upload, waited):
		// go on now.
		return nil
	}
	f.fails++
	f.needCheckin = true
	if o.res == nil || !o.res.unsent {
		// A request that went out and failed (post counted one unsent).
		f.count(func(s *Stats) { s.Failures++ })
	}
	msg := describe(o.what, o.res)
	var wait time.Duration
	switch o.class {
	case classAuth:
		f.setLink(LinkUnauthorized, msg)
		wait = f.jitter(f.opts.BackoffMax)
	case classIncompatible:
		f.setLink(LinkIncompatible, msg)
		wait = f.jitter(f.opts.BackoffMax)
	default:
		f.setLink(LinkDown, msg)
		wait = f.backoff()
		if o.res != nil && o.res.hasRA {
			ra := min(o.res.retryAfter, maxRetryAfter)
			wait = max(wait, ra+time.Duration(f.opts.Rand()*0.1*float64(ra)))
		}
	}
	f.mu.Lock()
	logIt := f.shouldLog("fail:" + strconv.Itoa(int(o.class)))
	f.mu.Unlock()
	if logIt {
		lvl := f.log.Warn
		if o.class == classAuth || o.class == classIncompatible {
			lvl = f.log.Error
		}
		lvl("cloud request failed; data kept, retrying", "error", msg, "failures_in_a_row", f.fails, "wait", wait.String())
	}
	_ = f.opts.Clock.Sleep(ctx, wait, nil)
	return nil
}

func describe(what string, r *result) string {
	switch {
	case r == nil:
		return what
	case r.problem != nil:
		return fmt.Sprintf("%s: %v", what, r.problem)
	case r.err != nil:
		return fmt.Sprintf("%s: %v", what, r.err)
	}
	return fmt.Sprintf("%s: status %d", what, r.status)
}

// backoff returns the wait after f.fails failures in a row.
func (f *Forwarder) backoff() time.Duration {
	d := float64(f.opts.BackoffMin) * math.Pow(2, float64(max(f.fails-1, 0)))
	return f.jitter(time.Duration(min(d, float64(f.opts.BackoffMax))))
}

// jitter returns a uniform duration in [d/2, d].
func (f *Forwarder) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(f.opts.Rand()*float64(d/2))
}

// post sends one JSON body, gzip-compressed, within the bandwidth caps,
// and reads the answer. alert lets it use the day cap's alert reserve;
// expect estimates the answer's size, which the day cap must have room for.
// restamp, when set, encodes the body again once the caps' waits are over
// (which may last until the next UTC day), so that a clock reading in it
// is the time the request goes out; body then only sizes the waits.
func (f *Forwarder) post(ctx context.Context, path, key string, body []byte, alert bool, expect int64, restamp func() ([]byte, error)) (*result, error) {
	wire := gzipBody(body)
	cost := int64(len(wire)) + requestOverheadBytes
	day, err := f.waitCaps(ctx, cost, expect+responseOverheadBytes, alert)
	if err != nil {
		return nil, err
	}
	if restamp != nil {
		b, err := restamp()
		if err != nil {
			f.refund(day, cost)
			return &result{err: err, unsent: true}, nil
		}
		wire = gzipBody(b)
		if extra := int64(len(wire)) + requestOverheadBytes - cost; extra > 0 {
			// A few bytes more than the caps counted (a longer time):
			// counted after the fact, as the answer's bytes are.
			f.charge(day, extra)
			cost += extra
		}
	}
	// The day's count is persisted once per attempt, whatever its outcome:
	// bytes spent on failed or retried requests count after a kill too.
	defer f.persistDay()
	cred, err := f.opts.Credential()
	if err != nil {
		// No usable credential: the same as the cloud refusing it (link
		// state unauthorized, logged). No request went out, so its bytes
		// are not spent and it is no request failure.
		f.refund(day, cost)
		f.count(func(s *Stats) { s.CredentialErrors++ })
		return &result{err: err, status: http.StatusUnauthorized, unsent: true}, nil
	}
	rctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, f.opts.URL+path, bytes.NewReader(wire))
	if err != nil {
		f.refund(day, cost)
		return &result{err: err, unsent: true}, nil
	}
	req.Header.Set("Content-Type", cloudapi.MediaJSON)
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept", cloudapi.MediaJSON+", "+cloudapi.MediaProblem)
	req.Header.Set(cloudapi.HeaderAuthorization, "Bearer "+cred)
	if key != "" {
		req.Header.Set(cloudapi.HeaderIdempotencyKey, key)
	}
	req.Header.Set("User-Agent", UserAgent(f.opts.Version))
	f.count(func(s *Stats) { s.Requests++; s.BytesSent += uint64(cost) })
	// The request and its answer are bounded by Timeout (rctx), which may
	// be longer than the stall limit: beaten for meanwhile, no longer
	// than that.
	endCover := f.opts.Heartbeat.Cover(f.opts.Timeout)
	defer endCover()
	resp, err := f.opts.HTTPClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &result{err: err}, nil
	}
	defer resp.Body.Close()
	data, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	got := int64(len(data)) + responseOverheadBytes
	f.charge(day, got)
	f.count(func(s *Stats) { s.BytesReceived += uint64(got) })
	r := &result{status: resp.StatusCode, body: data}
	if rerr != nil && ctx.Err() == nil {
		r.err = fmt.Errorf("reading response: %w", rerr)
		if r.status >= 200 && r.status < 300 {
			// Stored, but the answer is lost: the retry returns duplicates.
			r.status = 0
		}
	}
	r.retryAfter, r.hasRA = cloudapi.ParseRetryAfter(resp.Header.Get(cloudapi.HeaderRetryAfter), f.opts.Clock.Now())
	if r.status >= 300 || r.status < 200 {
		var p cloudapi.Problem
		if json.Unmarshal(data, &p) == nil && (p.Type != "" || p.Title != "") {
			r.problem = &p
		} else if r.err == nil && r.status != 0 {
			r.err = fmt.Errorf("status %d", r.status)
		}
	}
	return r, nil
}

// gzipBody returns body gzip-compressed.
func gzipBody(body []byte) []byte {
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	_, _ = zw.Write(body)
	_ = zw.Close()
	return zb.Bytes()
}

// waitCaps waits until cost bytes may be sent and about expect received:
// the day cap (alerts may use the reserve), then the rate cap, then the
// day cap again (the rate cap's wait may have crossed a UTC midnight). It
// counts cost for the UTC day in which the request goes out and returns
// that day: the answer's bytes count for it too (charge), even when they
// arrive after midnight.
func (f *Forwarder) waitCaps(ctx context.Context, cost, expect int64, alert bool) (int64, error) {
	clock := f.opts.Clock
	if err := f.waitDay(ctx, cost+expect, alert); err != nil {
		return 0, err
	}
	if wait := f.bucket.reserve(clock.Now(), cost); wait > 0 {
		f.setLink(LinkThrottled, "")
		if err := clock.Sleep(ctx, wait, nil); err != nil {
			return 0, err
		}
		if err := f.waitDay(ctx, cost+expect, alert); err != nil {
			return 0, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollDay(clock.Now())
	f.dayUsed += cost
	return f.day, nil
}

// waitDay waits until the current UTC day's budget has room for need
// bytes (alerts may use the reserve).
func (f *Forwarder) waitDay(ctx context.Context, need int64, alert bool) error {
	clock := f.opts.Clock
	for {
		now := clock.Now()
		f.mu.Lock()
		f.rollDay(now)
		used := f.dayUsed
		f.mu.Unlock()
		if f.opts.BytesPerDay <= 0 || used+need <= f.dayAllowance(alert) {
			return nil
		}
		f.setLink(LinkDayCap, fmt.Sprintf("day cap %d bytes used up (%d used)", f.opts.BytesPerDay, used))
		next := time.Unix((dayOf(now)+1)*86400, 0)
		if err := clock.Sleep(ctx, next.Sub(now), nil); err != nil {
			return err
		}
	}
}

// charge counts n received bytes against both caps (after the fact), for
// the day the request went out in (nothing when that day is over and the
// count has moved on to the next).
func (f *Forwarder) charge(day, n int64) {
	f.mu.Lock()
	if f.day == day {
		f.dayUsed += n
	}
	f.mu.Unlock()
	f.bucket.reserve(f.opts.Clock.Now(), n)
}

// refund takes back the cost counted for day of a request that never
// went out.
func (f *Forwarder) refund(day, n int64) {
	f.mu.Lock()
	if f.day == day {
		f.dayUsed = max(f.dayUsed-n, 0)
	}
	f.mu.Unlock()
}

// persistDay saves the day's byte count (one small write), so that a
// crash or kill cannot let the same UTC day spend more than BytesPerDay.
func (f *Forwarder) persistDay() {
	if f.opts.BytesPerDay <= 0 {
		return
	}
	f.mu.Lock()
	day, used := f.day, f.dayUsed
	f.mu.Unlock()
	if err := f.ob.saveDay(day, used); err != nil {
		f.mu.Lock()
		warn := f.shouldLog("saveday")
		f.mu.Unlock()
		if warn {
			f.log.Warn("cannot save the day's byte count", "error", err)
		}
	}
}

func dayOf(t time.Time) int64 { return int64(math.Floor(float64(t.Unix()) / 86400)) }

// rollDay starts the count of a new UTC day when now is in another day
// than the count's; mu held.
func (f *Forwarder) rollDay(now time.Time) {
	if d := dayOf(now); d != f.day {
		f.day, f.dayUsed = d, 0
	}
}

// Left returns the bytes that other traffic on the link (model downloads,
// agent/internal/update) may still receive today: what is left of
// BytesPerDay outside the alert reserve (math.MaxInt64: no day cap). With
// Spend it makes the forwarder the update's Budget, so the link has one
// byte budget. Safe for concurrent use.
func (f *Forwarder) Left() int64 {
	if f.opts.BytesPerDay <= 0 {
		return math.MaxInt64
	}
	f.mu.Lock()
	used := f.dayUsed
	if dayOf(f.opts.Clock.Now()) != f.day {
		used = 0
	}
	f.mu.Unlock()
	return f.dayAllowance(false) - used
}

// Spend counts n bytes other traffic on the link received against the
// budget (BytesPerDay; persisted with the forwarder's own count) of the
// UTC day in which Spend is called: call it as the bytes arrive, not
// long after. Safe for concurrent use; it never waits for a request.
func (f *Forwarder) Spend(n int64) {
	if n <= 0 {
		return
	}
	f.mu.Lock()
	f.rollDay(f.opts.Clock.Now())
	f.dayUsed += n
	f.mu.Unlock()
}

// dayAllowance is the day's byte budget for alerts or the rest.
func (f *Forwarder) dayAllowance(alert bool) int64 {
	if alert {
		return f.opts.BytesPerDay
	}
	return int64(float64(f.opts.BytesPerDay) * (1 - f.opts.AlertReserve))
}

// dayLeft returns the bytes left today for alerts or the rest (MaxInt64:
// no day cap).
func (f *Forwarder) dayLeft(alert bool) int64 {
	if f.opts.BytesPerDay <= 0 {
		return math.MaxInt64
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rollDay(f.opts.Clock.Now())
	return f.dayAllowance(alert) - f.dayUsed
}

// bucket is a token bucket in bytes that may go into debt: reserve takes
// n bytes now and returns how long to wait before using them. Over any
// interval, bytes reserved <= capacity + rate * interval.
type bucket struct {
	rate   int64 // bytes per second; 0: unlimited
	tokens float64
	last   time.Time
}

func (b *bucket) reserve(now time.Time, n int64) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	capacity := float64(b.rate) // one second's worth
	if b.last.IsZero() {
		b.tokens = capacity
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(capacity, b.tokens+dt*float64(b.rate))
	}
	b.last = now
	b.tokens -= float64(n)
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / float64(b.rate) * float64(time.Second))
}
