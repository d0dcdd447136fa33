package config

import (
	"log/slog"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
)

// ForwardCursor is the buffer cursor of the cloud forwarder. With a cloud
// link, BufferOptions makes it the buffer's consumer: readings count as
// released once forwarded.
const ForwardCursor = "forward"

// WindowingCursor is the buffer cursor the windowing moves to its saved
// progress (windowing.Options.ReleaseCursor). BufferOptions always makes
// it a consumer: a reading counts as released once no window needs it
// (and, with a cloud link, once forwarded), so a cap removing readings
// not yet diagnosed counts them as lost instead of as routine.
const WindowingCursor = "windowing"

// BufferOptions maps the buffer section to buffer.Options (logger and
// callbacks are left to the caller). Zero values that mean "none" in the
// config become the buffer's negative values.
func (c *Config) BufferOptions(log *slog.Logger) buffer.Options {
	b := c.Buffer
	o := buffer.Options{
		MaxBytes:         int64(b.MaxBytes),
		MaxAge:           b.MaxAge,
		FullPolicy:       buffer.Policy(b.FullPolicy),
		GroupCount:       b.GroupCommitCount,
		GroupDelay:       b.GroupCommitDelay,
		CompactFreeRatio: b.CompactFreeRatio,
		CompactMinBytes:  int64(b.CompactMinBytes),
		SkipCheck:        b.SkipCheck,
		Logger:           log,
	}
	if o.MaxAge == 0 {
		o.MaxAge = -1
	}
	if o.CompactFreeRatio == 0 {
		o.CompactFreeRatio = -1
	}
	if o.CompactMinBytes == 0 {
		o.CompactMinBytes = 1
	}
	o.Consumers = []string{WindowingCursor}
	if c.Cloud.Enabled() {
		o.Consumers = append(o.Consumers, ForwardCursor)
	}
	return o
}
