package diag

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		h    float64
		want Status
	}{
		{1, Healthy}, {0.7, Healthy}, {0.69, Warning}, {0.5, Warning}, {0.49, Critical}, {0, Critical}, {math.NaN(), Unknown},
	} {
		assert.Equal(t, tc.want, StatusOf(tc.h), "health %v", tc.h)
	}
}
