package export

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestQuantizeAxis0NonFinite: a NaN or infinite per-sensor weight is an
// error naming the element, as in onnx.Quantize (converting NaN to int8
// is undefined in Go). Build checks the weights first, so this guards
// the helper itself.
func TestQuantizeAxis0NonFinite(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		_, _, err := quantizeAxis0([]float32{1, 2, 3, v}, 2)
		require.Error(t, err)
		require.Contains(t, err.Error(), "element 3 is")
	}
	q, scales, err := quantizeAxis0([]float32{1, -2, 0, 0}, 2)
	require.NoError(t, err)
	require.Equal(t, []int8{64, -127, 0, 0}, q)
	require.Equal(t, []float32{2.0 / 127, 1}, scales)
}
