package train

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// TestScoreHealth: per condition target, the component health the
// diagnoses report (the class head's, diag.ClassHealth) and the health
// head's output are scored against the labelled class's health (review
// r1 finding 1: no metric measured health, so an untrained or poor health
// head went unnoticed).
func TestScoreHealth(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	N := len(cfg.Components)
	// Two windows: the cooler at 3 % (health 0.03), then at 100 % (1),
	// labelled; the other targets unlabelled.
	labels := [][]int{{0, -1, -1, -1, -1}, {2, -1, -1, -1, -1}}
	probs := make([][]float32, len(cfg.Targets))
	for j, tg := range cfg.Targets {
		probs[j] = make([]float32, 2*len(tg.Classes))
	}
	probs[0] = []float32{1, 0, 0, 0, 0.1, 0.9} // right, then 0.1 on 20 % (0.2): 0.92
	health := make([]float32, 2*N)
	ci := cfg.ComponentIndex("cooler_c1")
	health[ci], health[N+ci] = 0.6, 0.9 // warning (wrong band), then healthy

	met := score(cfg, labels, &prediction{probs: probs, health: health})
	require.Len(t, met.Health, 1, "only the labelled condition target")
	h := met.Health[0]
	assert.Equal(t, "cooler", h.Target)
	assert.Equal(t, "cooler_c1", h.Component)
	assert.Equal(t, 2, h.N)
	assert.InDelta(t, (0+0.08)/2, h.HealthMAE, 1e-6)
	assert.Equal(t, 1.0, h.StatusAgreement)
	assert.InDelta(t, (0.57+0.1)/2, h.HeadHealthMAE, 1e-6)
	assert.Equal(t, 0.5, h.HeadStatusAgreement)

	// Without health predictions the head's fields stay 0.
	met = score(cfg, labels, &prediction{probs: probs})
	require.Len(t, met.Health, 1)
	assert.Zero(t, met.Health[0].HeadHealthMAE)
	assert.Equal(t, 1.0, met.Health[0].StatusAgreement)
}
