package httpapi

import (
	"testing"
	"time"
)

// Bounds with nanoseconds round up to PostgreSQL's microsecond, keeping
// [from, to): from = t0+1ns leaves t0 out, to = t0+999ns keeps it in.
func TestCeilMicro(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ in, want time.Time }{
		{t0, t0},
		{t0.Add(time.Nanosecond), t0.Add(time.Microsecond)},
		{t0.Add(999 * time.Nanosecond), t0.Add(time.Microsecond)},
		{t0.Add(5 * time.Microsecond), t0.Add(5 * time.Microsecond)},
	} {
		if got := ceilMicro(tc.in); !got.Equal(tc.want) {
			t.Errorf("ceilMicro(%s) = %s, want %s", tc.in.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano), tc.want.Format(time.RFC3339Nano))
		}
	}
}
