package rigctl

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// openLoop is an open-loop load (a constant arrival rate, as wrk2 or k6's
// constant-arrival-rate executor offer it): request k is due at
// start + k/rate, for every k whose due time falls within duration,
// whatever became of the requests before it; clients goroutines send them,
// each request as soon as it is due and a goroutine is free. A request's
// latency runs from its due time, not from when it was sent, so a request
// that waited for a free goroutine (all of them waiting for slow answers)
// counts that wait: the load generator does not slow down with the server
// and leave the slow periods out of the figures (coordinated omission).
type openLoop struct {
	rate     float64       // requests per second offered, in total
	duration time.Duration // due times fall in [start, start+duration)
	// grace is how long after the last due time the requests still
	// waiting for a goroutine are sent; those not sent by then are
	// openUnsent.
	grace   time.Duration
	clients int
}

// openOutcome is what became of a request of an openLoop.
type openOutcome uint8

const (
	openOK     openOutcome = iota // sent and answered without error
	openFailed                    // sent; send returned an error
	openUnsent                    // still waiting for a goroutine at the cutoff (or cancelled)
)

// openSample is one request of an openLoop.
type openSample struct {
	outcome openOutcome
	// latency runs from the due time to the answer; for an unsent
	// request, to the cutoff (a lower bound of what it would have been).
	latency time.Duration
	// delay runs from the due time to the send: the wait for a free
	// goroutine (and the timer's lateness).
	delay time.Duration
}

// openRun is the result of openLoop.run.
type openRun struct {
	start   time.Time
	samples []openSample // by request number k
	elapsed time.Duration
}

// requests is the number of requests due within l.duration.
func (l openLoop) requests() int {
	return max(1, int(math.Ceil(l.rate*l.duration.Seconds())))
}

// due is when request k is due after start.
func (l openLoop) due(start time.Time, k int) time.Time {
	return start.Add(time.Duration(float64(k) * float64(time.Second) / l.rate))
}

// run sends every request, send(ctx, k) sending request k, and returns
// each one's sample and the time from the start to the last answer. A
// request still waiting for a goroutine grace after the last due time is
// not sent (openUnsent); one sent by then is waited for. When ctx ends,
// the requests not yet sent are openUnsent.
func (l openLoop) run(ctx context.Context, send func(ctx context.Context, k int) error) openRun {
	n := l.requests()
	r := openRun{start: time.Now(), samples: make([]openSample, n)}
	cutoff := r.start.Add(l.duration + l.grace)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(l.clients, n) {
		wg.Go(func() {
			timer := time.NewTimer(0)
			defer timer.Stop()
			for {
				k := int(next.Add(1)) - 1
				if k >= n {
					return
				}
				due := l.due(r.start, k)
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-timer.C:
					case <-ctx.Done():
					}
				}
				sent := time.Now()
				if ctx.Err() != nil || sent.After(cutoff) {
					end := sent
					if end.After(cutoff) {
						end = cutoff
					}
					r.samples[k] = openSample{outcome: openUnsent, latency: max(0, end.Sub(due))}
					continue
				}
				err := send(ctx, k)
				s := openSample{outcome: openOK, latency: time.Since(due), delay: sent.Sub(due)}
				if err != nil {
					s.outcome = openFailed
				}
				r.samples[k] = s
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(r.start)
	return r
}
