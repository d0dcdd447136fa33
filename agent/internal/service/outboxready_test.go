package service

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/hydrognn/hydrognn/agent/internal/forward"
	"github.com/hydrognn/hydrognn/shared/diag"
)

// failingOutbox is a Forwarder whose outbox has failed n times in a row.
type failingOutbox struct{ n int }

func (failingOutbox) Enqueue(context.Context, diag.Diagnosis) error { return nil }
func (failingOutbox) Run(context.Context) error                     { return nil }
func (f failingOutbox) OutboxFailing() (int, time.Time, error) {
	return f.n, time.Date(2026, 11, 28, 1, 0, 0, 0, time.UTC), errors.New("outbox: read-only file system")
}

// An outbox failing OutboxNotReadyAfter times in a row makes the agent
// not ready, with the reason (/health/ready), while the forwarder keeps
// retrying: before, /health/ready said ready for ever (review r4
// finding 4). Fewer failures are not reported.
func TestNotReadyWhileOutboxFails(t *testing.T) {
	outbox := func(why []string) string {
		for _, w := range why {
			if strings.HasPrefix(w, "cloud outbox failing") {
				return w
			}
		}
		return ""
	}
	a := &Agent{fwd: failingOutbox{n: forward.OutboxNotReadyAfter - 1}}
	assert.Empty(t, outbox(a.NotReady()))
	a = &Agent{fwd: failingOutbox{n: forward.OutboxNotReadyAfter}}
	assert.Equal(t, "cloud outbox failing since 2026-11-28T01:00:00Z (3 failures in a row; diagnoses stay in the history): outbox: read-only file system",
		outbox(a.NotReady()))
	var _ outboxReporter = (*cloudForwarder)(nil) // the real one reports
}
