package jobs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

func TestFailResult(t *testing.T) {
	for _, c := range []struct {
		name                string
		ferr                error
		cancelled, retry    bool
		attempt, maxAttempt int
		want                string
	}{
		{"error worth retrying, attempts left", nil, false, true, 1, 3, ResultRetried},
		{"error worth retrying, last attempt", nil, false, true, 3, 3, ResultFailed},
		{"permanent error", nil, false, false, 1, 3, ResultFailed},
		{"cancel request", nil, true, false, 1, 3, ResultCancelled},
		{"lease lost when the end was stored", fmt.Errorf("job 1 attempt 1: %w", store.ErrLeaseLost), false, true, 1, 3, ResultLeaseLost},
		{"database unreachable", errors.New("connection refused"), true, false, 1, 3, ResultUnstored},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := failResult(c.ferr, c.cancelled, c.retry, c.attempt, c.maxAttempt); got != c.want {
				t.Errorf("failResult = %q, want %q", got, c.want)
			}
		})
	}
}
