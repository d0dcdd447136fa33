package rig

import "math"

// DefaultRangeTolerance is the fraction of a sensor's span (Range.Max -
// Range.Min) by which a value may lie outside its measuring range at
// either end and still count as a reading. The agent's ingest drops
// readings outside (agent/internal/ingest, reason out_of_range), and the
// training loaders (models/train, models/skab) refuse data outside, so a
// model never learns from values the agent would not feed it.
const DefaultRangeTolerance = 0.1

// Tolerated returns the interval [lo, hi] a value may lie in: r widened
// by tol times its span at both ends. A negative or NaN tol, or a range
// without Min < Max, checks nothing: lo and hi are -Inf and +Inf.
func (r Range) Tolerated(tol float64) (lo, hi float64) {
	if !(tol >= 0) || !(r.Max > r.Min) {
		return math.Inf(-1), math.Inf(1)
	}
	span := r.Max - r.Min
	return r.Min - tol*span, r.Max + tol*span
}

// Accepts reports whether v lies in r widened by tol (Tolerated). NaN is
// never accepted.
func (r Range) Accepts(v, tol float64) bool {
	lo, hi := r.Tolerated(tol)
	return v >= lo && v <= hi
}
