package diag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClassHealth(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	valve := []*float64{f(0.1), f(0.4), f(0.7), f(1)} // UCI valve classes 73, 80, 90, 100
	cases := []struct {
		name string
		p    []float64
		h    float64
		st   Status
	}{
		{"optimal", []float64{0, 0, 0, 1}, 1, Healthy},
		// Expected 0.6994, below HealthyAt, but the class at the band's
		// edge holds the healthy band.
		{"small lag at the edge", []float64{0, 0.002, 0.998, 0}, 0.998*0.7 + 0.002*0.4, Healthy},
		{"split", []float64{0.3, 0.3, 0, 0.4}, 0.03 + 0.12 + 0.4, Critical}, // critical 0.6 mass
		{"tie goes to the worse", []float64{0, 0.5, 0, 0.5}, 0.7, Critical},
	}
	for _, c := range cases {
		h, st, ok := ClassHealth(c.p, valve)
		assert.True(t, ok, c.name)
		assert.InDelta(t, c.h, h, 1e-12, c.name)
		assert.Equal(t, c.st, st, c.name)
	}
	pump := []*float64{f(1), f(0.6), f(0.3)}
	_, st, _ := ClassHealth([]float64{0.225, 0.55, 0.225}, pump)
	assert.Equal(t, Warning, st)
	// The healthy band holds the most probability but not half of it:
	// the status is the median band, not the most probable one.
	_, st, _ = ClassHealth([]float64{0.4, 0.3, 0.3}, pump)
	assert.Equal(t, Warning, st, "healthy needs half the probability")
	_, st, _ = ClassHealth([]float64{0.45, 0.1, 0.45}, pump)
	assert.Equal(t, Warning, st, "median band between healthy and critical")
	_, st, _ = ClassHealth([]float64{0.1, 0.35, 0.55}, pump)
	assert.Equal(t, Critical, st)

	// Probabilities that sum to a little more than 1 (float rounding of a
	// softmax) still give a health in [0, 1].
	h, st, _ := ClassHealth([]float64{1 + 2e-15, 1e-16, 0}, pump)
	assert.LessOrEqual(t, h, 1.0)
	assert.Equal(t, Healthy, st)
	// A class without a health takes no share of the expected health.
	h, _, _ = ClassHealth([]float64{0.5, 0.5}, []*float64{f(1), nil})
	assert.InDelta(t, 1, h, 1e-12)

	_, st, ok := ClassHealth([]float64{0.5, 0.5}, []*float64{nil, nil})
	assert.False(t, ok, "no class has a health")
	assert.Equal(t, Unknown, st)
}

func TestWorse(t *testing.T) {
	assert.Equal(t, Critical, Worse(Warning, Critical))
	assert.Equal(t, Warning, Worse(Warning, Healthy))
	assert.Equal(t, Healthy, Worse(Unknown, Healthy))
	assert.Equal(t, Unknown, Worse(Unknown, Unknown))
	assert.Less(t, Rank(Unknown), Rank(Healthy))
}
