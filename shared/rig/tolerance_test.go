package rig

import (
	"math"
	"testing"
)

func TestRangeTolerated(t *testing.T) {
	r := Range{Min: 0, Max: 250}
	lo, hi := r.Tolerated(DefaultRangeTolerance)
	if lo != -25 || hi != 275 {
		t.Errorf("Tolerated(0.1) = [%v, %v], want [-25, 275]", lo, hi)
	}
	for _, tc := range []struct {
		v    float64
		tol  float64
		want bool
	}{
		{-25, 0.1, true}, {275, 0.1, true}, {-25.001, 0.1, false}, {275.001, 0.1, false},
		{125, 0.1, true}, {math.NaN(), 0.1, false}, {math.Inf(1), 0.1, false},
		{1e9, -1, true}, {-1e9, -1, true}, {251, 0, false}, {250, 0, true},
	} {
		if got := r.Accepts(tc.v, tc.tol); got != tc.want {
			t.Errorf("Accepts(%v, %v) = %v, want %v", tc.v, tc.tol, got, tc.want)
		}
	}
	if lo, hi := (Range{Min: 1, Max: 1}).Tolerated(0.1); !math.IsInf(lo, -1) || !math.IsInf(hi, 1) {
		t.Errorf("empty range: [%v, %v]", lo, hi)
	}
}
