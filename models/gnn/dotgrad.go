package gnn

import (
	"reflect"
	"slices"

	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// GoMLX v0.26.0 differentiates DotGeneral (every MatMul) by materialising
// the outer product of the adjoint and the other operand, [batch, M, N, K],
// and reducing it: on the pure-Go backend that broadcast Mul and ReduceSum
// took about 90 % of a training step of this model. dotGeneralVJP computes
// the same gradients as two DotGenerals (the textbook dA = dY·Bᵀ, dB =
// Aᵀ·dY), which run on the backend's matmul kernels. It replaces the
// registered VJP for the whole process when this package is imported;
// TestDotGeneralVJP holds it to the original on random shapes.
var originalDotGeneralVJP G.VJP

func init() {
	originalDotGeneralVJP = G.VJPRegistration[G.NodeTypeDotGeneral]
	G.VJPRegistration[G.NodeTypeDotGeneral] = dotGeneralVJP
}

// dotAxes reads a DotGeneral node's axes. GoMLX keeps them in an
// unexported struct; reflection reads (never writes) them. ok is false if
// the layout differs from v0.26.0, and the original VJP is used.
func dotAxes(node *G.Node) (lc, lb, rc, rb []int, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() || in.IsNil() {
		return nil, nil, nil, nil, false
	}
	st := in.Elem().Elem()
	ints := func(name string) []int {
		f := st.FieldByName(name)
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	return ints("lhsContractingAxes"), ints("lhsBatchAxes"), ints("rhsContractingAxes"), ints("rhsBatchAxes"), true
}

// dotGeneralVJP is the VJP of DotGeneral(lhs, lc, lb, rhs, rc, rb), whose
// output axes are [batch..., lhs cross..., rhs cross...] (cross axes in
// increasing axis order).
func dotGeneralVJP(node *G.Node, vjps []*G.Node, _ shapes.Shape) []*G.Node {
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	lc, lb, rc, rb, ok := dotAxes(node)
	if !ok {
		return originalDotGeneralVJP(node, vjps, node.Shape())
	}
	v := vjps[0]
	lx := crossAxes(lhs.Rank(), lc, lb)
	rx := crossAxes(rhs.Rank(), rc, rb)
	nb := len(lb)
	vBatch := axesFrom(0, nb)
	vL := axesFrom(nb, len(lx))         // positions of lhs cross axes in v
	vR := axesFrom(nb+len(lx), len(rx)) // positions of rhs cross axes in v

	// dLhs = v · rhs over the rhs cross axes: [batch, lx, rc (sorted)].
	gl := G.DotGeneral(v, vR, vBatch, rhs, rx, rb)
	{
		// Result axis p is lhs axis src[p].
		src := slices.Clone(lb)
		src = append(src, lx...)
		for _, a := range sortedCopy(rc) {
			src = append(src, lc[slices.Index(rc, a)])
		}
		gl = toAxisOrder(gl, src)
	}
	// dRhs = lhs · v over the lhs cross axes: [batch, lc (sorted), rx].
	gr := G.DotGeneral(lhs, lx, lb, v, vL, vBatch)
	{
		src := slices.Clone(rb)
		for _, a := range sortedCopy(lc) {
			src = append(src, rc[slices.Index(lc, a)])
		}
		src = append(src, rx...)
		gr = toAxisOrder(gr, src)
	}
	return []*G.Node{gl, gr}
}

// toAxisOrder transposes x, whose axis p is destination axis src[p], into
// destination order.
func toAxisOrder(x *G.Node, src []int) *G.Node {
	perm := make([]int, len(src))
	identity := true
	for p, a := range src {
		perm[a] = p
		if a != p {
			identity = false
		}
	}
	if identity {
		return x
	}
	return G.TransposeAllAxes(x, perm...)
}

func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func sortedCopy(a []int) []int {
	c := slices.Clone(a)
	slices.Sort(c)
	return c
}

func axesFrom(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}
