package diag

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Statuses lists each status once, in Rank order, so code that ranks
// statuses elsewhere (rig-cloud's SQL) can be built from it.
func TestStatusesInRankOrder(t *testing.T) {
	for i, s := range Statuses {
		assert.Equal(t, i, Rank(s), "%s", s)
	}
	for _, s := range []Status{Healthy, Warning, Critical, Unknown} {
		assert.Contains(t, Statuses, s)
	}
	assert.Zero(t, Rank("bogus"), "an unknown value ranks as unknown")
}
