package jobs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

func TestFailResult(t *testing.T) {
	for _, c := range []struct {
		name  string
		state string
		ferr  error
		want  string
	}{
		{"queued again", store.JobQueued, nil, ResultRetried},
		{"failed", store.JobFailed, nil, ResultFailed},
		{"cancelled", store.JobCancelled, nil, ResultCancelled},
		{"lease lost when the end was stored", "", fmt.Errorf("job 1 attempt 1: %w", store.ErrLeaseLost), ResultLeaseLost},
		{"database unreachable", "", errors.New("connection refused"), ResultUnstored},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := failResult(c.state, c.ferr); got != c.want {
				t.Errorf("failResult = %q, want %q", got, c.want)
			}
		})
	}
}
