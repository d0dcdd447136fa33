package gnn

import (
	"math"
	"math/rand/v2"
	"testing"

	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestDotGeneralVJP compares the replacement DotGeneral gradient with
// GoMLX's original on shapes with batch, cross and several contracting
// axes in mixed orders.
func TestDotGeneralVJP(t *testing.T) {
	backend, err := NewBackend("")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randT := func(dims ...int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	cases := []struct {
		name   string
		l, r   []int
		lc, lb []int
		rc, rb []int
	}{
		{"matmul", []int{5, 3}, []int{3, 4}, []int{1}, nil, []int{0}, nil},
		{"rank3xW", []int{2, 5, 3}, []int{3, 4}, []int{2}, nil, []int{0}, nil},
		{"batched", []int{6, 2, 5}, []int{6, 5, 3}, []int{2}, []int{0}, []int{1}, []int{0}},
		{"mixed", []int{3, 2, 4, 5}, []int{5, 2, 6, 3}, []int{3, 0}, []int{1}, []int{0, 3}, []int{1}},
		{"lhsT", []int{3, 5}, []int{3, 4}, []int{0}, nil, []int{0}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lt, rt := randT(c.l...), randT(c.r...)
			var outShape []int
			grads := func(vjp G.VJP) [][]float32 {
				G.VJPRegistration[G.NodeTypeDotGeneral] = vjp
				defer func() { G.VJPRegistration[G.NodeTypeDotGeneral] = dotGeneralVJP }()
				e, err := G.NewExec(backend, func(l, r *G.Node) []*G.Node {
					y := G.DotGeneral(l, c.lc, c.lb, r, c.rc, c.rb)
					outShape = y.Shape().Dimensions
					w := G.Sin(G.Iota(l.Graph(), y.Shape(), -1)) // a non-uniform adjoint
					loss := G.ReduceAllSum(G.Mul(y, w))
					return G.Gradient(loss, l, r)
				})
				if err != nil {
					t.Fatal(err)
				}
				outs, err := e.Exec(lt, rt)
				if err != nil {
					t.Fatal(err)
				}
				var res [][]float32
				for _, o := range outs {
					v, _ := tensors.CopyFlatData[float32](o)
					res = append(res, v)
				}
				return res
			}
			want := grads(originalDotGeneralVJP)
			got := grads(dotGeneralVJP)
			for k := range want {
				for i := range want[k] {
					if math.Abs(float64(want[k][i]-got[k][i])) > 1e-4 {
						t.Fatalf("grad %d[%d] (output %v): got %v, want %v", k, i, outShape, got[k][i], want[k][i])
					}
				}
			}
		})
	}
}
