package diag

import (
	"math"
	"testing"
)

func TestJudged(t *testing.T) {
	for _, tc := range []struct {
		c    ComponentHealth
		want bool
	}{
		{ComponentHealth{Health: 0.9, Status: Healthy}, true},
		{ComponentHealth{Health: 0, Status: Critical}, true},
		{ComponentHealth{Health: 1, Status: Warning}, true},
		{ComponentHealth{Health: 0.9, Status: Unknown}, false},
		{ComponentHealth{Health: 0.9, Status: "bogus"}, false},
		{ComponentHealth{Health: -0.1, Status: Critical}, false},
		{ComponentHealth{Health: 1.1, Status: Healthy}, false},
		{ComponentHealth{Health: math.NaN(), Status: Healthy}, false},
	} {
		if got := Judged(tc.c); got != tc.want {
			t.Errorf("Judged(%+v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}
