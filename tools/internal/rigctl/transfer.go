package rigctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync/atomic"
	"time"
)

// Uploads of unbounded length (dataset import, release publish) run
// without a client timeout; watchUpload shows their progress and gives
// up on a stalled one instead.

// defaultIdleTimeout is --idle-timeout's default.
const defaultIdleTimeout = 2 * time.Minute

// progressEvery is how often watchUpload prints a progress line.
var progressEvery = 5 * time.Second

// idleTimeoutFlag defines --idle-timeout on fs.
func idleTimeoutFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("idle-timeout", defaultIdleTimeout,
		"give up the upload when no byte was sent for this long, or no answer came this long after the last byte (0: never)")
}

// errStalled is the cause of a watched upload's cancellation.
var errStalled = errors.New("upload stalled")

// countingReader counts the bytes read from r and when the last ones
// were.
type countingReader struct {
	r    io.Reader
	n    atomic.Int64
	last atomic.Int64 // Unix nanoseconds
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n.Add(int64(n))
		c.last.Store(time.Now().UnixNano())
	}
	return n, err
}

// watchUpload runs send with body wrapped so that its bytes are
// counted. Unless progress is nil it prints a line there every
// progressEvery (what, bytes sent, rate; with total > 0 the share and
// the time left) and one when send returns. With idle > 0 it cancels
// send's context when no byte was read from body for idle, including
// the wait for the answer after the last byte: the error then says so.
func watchUpload(ctx context.Context, progress io.Writer, what string, total int64, idle time.Duration, body io.Reader,
	send func(ctx context.Context, body io.Reader) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cr := &countingReader{r: body}
	start := time.Now()
	cr.last.Store(start.UnixNano())
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		tick := time.Second
		if idle > 0 {
			tick = min(tick, max(idle/4, time.Millisecond))
		}
		t := time.NewTicker(tick)
		defer t.Stop()
		printed := start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				if idle > 0 && now.Sub(time.Unix(0, cr.last.Load())) > idle {
					cancel(errStalled)
					return
				}
				if progress != nil && now.Sub(printed) >= progressEvery {
					printed = now
					fmt.Fprintln(progress, progressLine(what, cr.n.Load(), total, now.Sub(start)))
				}
			}
		}
	}()
	err := send(ctx, cr)
	close(done)
	<-watched
	n := cr.n.Load()
	if errors.Is(context.Cause(ctx), errStalled) {
		return fmt.Errorf("%s: nothing moved for %v after %s sent (--idle-timeout): %w", what, idle, byteSize(n), errStalled)
	}
	if err == nil && progress != nil {
		el := time.Since(start)
		fmt.Fprintf(progress, "%s: %s sent in %s (%s/s)\n", what, byteSize(n), el.Round(100*time.Millisecond), byteSize(rate(n, el)))
	}
	return err
}

// progressLine is one progress line of watchUpload.
func progressLine(what string, n, total int64, el time.Duration) string {
	r := rate(n, el)
	s := fmt.Sprintf("%s: %s", what, byteSize(n))
	if total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", byteSize(total), min(100, n*100/total))
	}
	s += fmt.Sprintf(", %s/s", byteSize(r))
	if total > 0 && r > 0 && n < total {
		s += fmt.Sprintf(", about %s left", (time.Duration((total-n)/r) * time.Second).String())
	}
	return s
}

// rate is n bytes over el in bytes per second.
func rate(n int64, el time.Duration) int64 {
	if el <= 0 {
		return 0
	}
	return int64(float64(n) / el.Seconds())
}

// byteSize is n in B, KiB, MiB or GiB.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
