package diag

import "math"

// ClassHealth is the health and status a condition target's class head
// gives its component: p are the class probabilities and health the
// classes' health (nil: the class has none), both in the target's class
// order. The health is the expected health Σ p·health over the classes
// that have one, divided by their probability and kept in [0, 1]; the
// status is the median status band: the worst band (StatusOf of each
// class's health) such that that band and the worse ones hold at least
// half the probability, so a tie goes to the worse band and "healthy"
// needs more than half the probability on healthy classes (healthy 0.4,
// warning 0.3, critical 0.3 is a warning, not the band holding the
// most). Bands, not
// StatusOf(Σ p·health), so that a class at exactly a band's edge (health
// 0.7, HealthyAt) keeps its band when the rest of the probability falls
// below it. ok is false when no class has a health.
//
// Edge agents (agent/infer) and the trainer's metrics (models/train) both
// derive a component's health from its class heads with it, so what
// training measures is what operators see.
func ClassHealth(p []float64, health []*float64) (h float64, st Status, ok bool) {
	mass := map[Status]float64{}
	for k, pk := range p {
		if k >= len(health) || health[k] == nil {
			continue
		}
		h += pk * *health[k]
		mass[StatusOf(*health[k])] += pk
		ok = true
	}
	if !ok {
		return 0, Unknown, false
	}
	total := mass[Healthy] + mass[Warning] + mass[Critical]
	// The expected health over the classes that have one, kept in [0, 1]:
	// a softmax's probabilities sum to 1 only up to rounding (1 + 2e-15
	// made a health of 1.000000000000002, which the cloud contract
	// refuses), and classes without a health take no share.
	if total > 0 {
		h /= total
	}
	h = math.Min(1, math.Max(0, h))
	worse := 0.0
	for _, s := range []Status{Critical, Warning} {
		worse += mass[s]
		if worse >= total/2-1e-12 {
			return h, s, true
		}
	}
	return h, Healthy, true
}

// Statuses lists every status, by Rank: Statuses[Rank(s)] == s.
var Statuses = []Status{Unknown, Healthy, Warning, Critical}

// Rank orders the statuses of judged health from best to worst: healthy
// 1, warning 2, critical 3; unknown (nothing judged) and any other value
// 0.
func Rank(s Status) int {
	switch s {
	case Healthy:
		return 1
	case Warning:
		return 2
	case Critical:
		return 3
	}
	return 0
}

// Worse returns the worse of two statuses by Rank (a judged status is
// worse than Unknown).
func Worse(a, b Status) Status {
	if Rank(b) > Rank(a) {
		return b
	}
	return a
}
