package config

import (
	"log/slog"

	"github.com/hydrognn/hydrognn/agent/internal/buffer"
)

// ForwardCursor is the buffer cursor of the cloud forwarder. With a cloud
// link, BufferOptions makes it the buffer's consumer: readings count as
// released once forwarded.
const ForwardCursor = "forward"

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
	if c.Cloud.Enabled() {
		o.Consumers = []string{ForwardCursor}
	}
	return o
}
