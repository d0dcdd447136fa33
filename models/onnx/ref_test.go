package onnx_test

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// nd is a float64 n-dimensional array in row-major order: the pure-Go
// reference the tests compare ONNX Runtime with.
type nd struct {
	shape []int
	data  []float64
}

func zeros(shape ...int) *nd {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &nd{shape: slices.Clone(shape), data: make([]float64, n)}
}

func fromF32(data []float32, shape ...int) *nd {
	a := zeros(shape...)
	if len(data) != len(a.data) {
		panic("fromF32: size mismatch")
	}
	for i, v := range data {
		a.data[i] = float64(v)
	}
	return a
}

// randF32 returns n values uniform in [lo, hi).
func randF32(rng *rand.Rand, n int, lo, hi float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return out
}

func (a *nd) shape64() []int64 {
	out := make([]int64, len(a.shape))
	for i, d := range a.shape {
		out[i] = int64(d)
	}
	return out
}

func (a *nd) f32() []float32 {
	out := make([]float32, len(a.data))
	for i, v := range a.data {
		out[i] = float32(v)
	}
	return out
}

func (a *nd) tensor() *onnx.Tensor { return onnx.NewTensor(a.f32(), a.shape64()...) }

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// unravel writes the multi-index of flat position i into idx.
func unravel(i int, shape, idx []int) {
	for k := len(shape) - 1; k >= 0; k-- {
		idx[k] = i % shape[k]
		i /= shape[k]
	}
}

func normAxis(axis, rank int) int {
	if axis < 0 {
		return axis + rank
	}
	return axis
}

// broadcastShape returns the NumPy broadcast of the shapes.
func broadcastShape(shapes ...[]int) []int {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		for k, d := range s {
			j := rank - len(s) + k
			if d != 1 {
				if out[j] != 1 && out[j] != d {
					panic("broadcast: incompatible shapes")
				}
				out[j] = d
			}
		}
	}
	return out
}

// offsetOf returns the flat position in a of the broadcast index idx.
func (a *nd) offsetOf(idx []int) int {
	st := strides(a.shape)
	off := 0
	for k, d := range a.shape {
		j := len(idx) - len(a.shape) + k
		if d != 1 {
			off += idx[j] * st[k]
		}
	}
	return off
}

// mapN applies f element-wise over broadcast inputs.
func mapN(f func(x ...float64) float64, in ...*nd) *nd {
	shapes := make([][]int, len(in))
	for i, a := range in {
		shapes[i] = a.shape
	}
	out := zeros(broadcastShape(shapes...)...)
	idx := make([]int, len(out.shape))
	args := make([]float64, len(in))
	for i := range out.data {
		unravel(i, out.shape, idx)
		for k, a := range in {
			args[k] = a.data[a.offsetOf(idx)]
		}
		out.data[i] = f(args...)
	}
	return out
}

func unary(a *nd, f func(float64) float64) *nd {
	return mapN(func(x ...float64) float64 { return f(x[0]) }, a)
}

func binary(a, b *nd, f func(x, y float64) float64) *nd {
	return mapN(func(x ...float64) float64 { return f(x[0], x[1]) }, a, b)
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func addND(a, b *nd) *nd { return binary(a, b, func(x, y float64) float64 { return x + y }) }

func reshape(a *nd, shape ...int) *nd { return &nd{shape: shape, data: a.data} }

// matmul is NumPy matmul for operands of rank >= 2 (batch dims broadcast).
func matmul(a, b *nd) *nd {
	ra, rb := len(a.shape), len(b.shape)
	m, k, n := a.shape[ra-2], a.shape[ra-1], b.shape[rb-1]
	if b.shape[rb-2] != k {
		panic("matmul: inner sizes differ")
	}
	batch := broadcastShape(a.shape[:ra-2], b.shape[:rb-2])
	out := zeros(append(slices.Clone(batch), m, n)...)
	aBatch := &nd{shape: a.shape[:ra-2]}
	bBatch := &nd{shape: b.shape[:rb-2]}
	nb := len(out.data) / (m * n)
	idx := make([]int, len(batch))
	for bi := 0; bi < nb; bi++ {
		unravel(bi, batch, idx)
		ao := aBatch.offsetOf(idx) * m * k
		bo := bBatch.offsetOf(idx) * k * n
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s := 0.0
				for p := 0; p < k; p++ {
					s += a.data[ao+i*k+p] * b.data[bo+p*n+j]
				}
				out.data[bi*m*n+i*n+j] = s
			}
		}
	}
	return out
}

func transpose(a *nd, perm ...int) *nd {
	shape := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = a.shape[p]
	}
	out := zeros(shape...)
	st := strides(a.shape)
	idx := make([]int, len(shape))
	for i := range out.data {
		unravel(i, shape, idx)
		off := 0
		for k, p := range perm {
			off += idx[k] * st[p]
		}
		out.data[i] = a.data[off]
	}
	return out
}

// reduce folds a over the given axes (all when none) with f, starting from
// init; keep keeps reduced axes with size 1.
func reduce(a *nd, axes []int, keep bool, init float64, f func(acc, x float64) float64) *nd {
	red := make([]bool, len(a.shape))
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, ax := range axes {
		red[normAxis(ax, len(a.shape))] = true
	}
	var keptShape, outShape []int
	for i, d := range a.shape {
		if red[i] {
			keptShape = append(keptShape, 1)
		} else {
			keptShape = append(keptShape, d)
			outShape = append(outShape, d)
		}
	}
	out := zeros(keptShape...)
	for i := range out.data {
		out.data[i] = init
	}
	idx := make([]int, len(a.shape))
	for i, v := range a.data {
		unravel(i, a.shape, idx)
		o := out.offsetOf(idx)
		out.data[o] = f(out.data[o], v)
	}
	if keep {
		return out
	}
	if outShape == nil {
		outShape = []int{}
	}
	return reshape(out, outShape...)
}

func reduceSum(a *nd, axes []int, keep bool) *nd {
	return reduce(a, axes, keep, 0, func(acc, x float64) float64 { return acc + x })
}

func reduceMean(a *nd, axes []int, keep bool) *nd {
	s := reduceSum(a, axes, keep)
	n := float64(len(a.data) / max(1, len(s.data)))
	return unary(s, func(x float64) float64 { return x / n })
}

func softmax(a *nd, axis int) *nd {
	axis = normAxis(axis, len(a.shape))
	mx := reduce(a, []int{axis}, true, math.Inf(-1), math.Max)
	e := binary(a, mx, func(x, m float64) float64 { return math.Exp(x - m) })
	return binary(e, reduceSum(e, []int{axis}, true), func(x, s float64) float64 { return x / s })
}

func concat(axis int, xs ...*nd) *nd {
	axis = normAxis(axis, len(xs[0].shape))
	shape := slices.Clone(xs[0].shape)
	shape[axis] = 0
	for _, x := range xs {
		shape[axis] += x.shape[axis]
	}
	out := zeros(shape...)
	idx := make([]int, len(shape))
	for i := range out.data {
		unravel(i, shape, idx)
		pos := idx[axis]
		for _, x := range xs {
			if pos < x.shape[axis] {
				src := slices.Clone(idx)
				src[axis] = pos
				out.data[i] = x.data[x.offsetOf(src)]
				break
			}
			pos -= x.shape[axis]
		}
	}
	return out
}

// slice takes start:end:step on each listed axis (non-negative values,
// end clamped).
func slice(a *nd, starts, ends, axes, steps []int) *nd {
	shape := slices.Clone(a.shape)
	start := make([]int, len(shape))
	step := make([]int, len(shape))
	for i := range step {
		step[i] = 1
	}
	for i, ax := range axes {
		e := min(ends[i], a.shape[ax])
		start[ax], step[ax] = starts[i], steps[i]
		shape[ax] = (e - starts[i] + steps[i] - 1) / steps[i]
	}
	out := zeros(shape...)
	idx := make([]int, len(shape))
	for i := range out.data {
		unravel(i, shape, idx)
		src := make([]int, len(idx))
		for k := range idx {
			src[k] = start[k] + idx[k]*step[k]
		}
		out.data[i] = a.data[a.offsetOf(src)]
	}
	return out
}

func gather(a *nd, axis int, indices []int, indShape []int) *nd {
	shape := append(append(slices.Clone(a.shape[:axis]), indShape...), a.shape[axis+1:]...)
	out := zeros(shape...)
	idx := make([]int, len(shape))
	for i := range out.data {
		unravel(i, shape, idx)
		src := slices.Clone(idx[:axis])
		flat := 0
		for k, d := range indShape {
			flat = flat*d + idx[axis+k]
		}
		src = append(src, indices[flat])
		src = append(src, idx[axis+len(indShape):]...)
		out.data[i] = a.data[a.offsetOf(src)]
	}
	return out
}

// layerNorm normalises over the axes from axis to the last.
func layerNorm(x, scale, bias *nd, axis int, eps float64) *nd {
	axis = normAxis(axis, len(x.shape))
	var axes []int
	for i := axis; i < len(x.shape); i++ {
		axes = append(axes, i)
	}
	mean := reduceMean(x, axes, true)
	centred := binary(x, mean, func(a, m float64) float64 { return a - m })
	variance := reduceMean(unary(centred, func(a float64) float64 { return a * a }), axes, true)
	y := binary(centred, variance, func(c, v float64) float64 { return c / math.Sqrt(v+eps) })
	y = binary(y, scale, func(a, s float64) float64 { return a * s })
	if bias != nil {
		y = addND(y, bias)
	}
	return y
}

// gruRef runs a forward GRU over x [T, B, I] with the parameters in the
// dense-layer orientation of onnx.GRUParams and returns Y [T, 1, B, H] and
// Y_h [1, B, H]. h0 may be nil (zeros).
func gruRef(x *nd, p onnx.GRUParams, linearBeforeReset bool, h0 *nd) (*nd, *nd) {
	T, B, I, H := x.shape[0], x.shape[1], x.shape[2], p.HiddenSize
	h := make([]float64, B*H)
	if h0 != nil {
		copy(h, h0.data)
	}
	y := zeros(T, 1, B, H)
	bias := func(b []float32, j int) float64 {
		if b == nil {
			return 0
		}
		return float64(b[j])
	}
	// xw returns x_t[b]·gate.Input[:, j] and hr h[b]·gate.Recurrent[:, j].
	xw := func(t, b, j int, g onnx.GRUGate) float64 {
		s := 0.0
		for i := 0; i < I; i++ {
			s += x.data[(t*B+b)*I+i] * float64(g.Input[i*H+j])
		}
		return s
	}
	hr := func(hv []float64, b, j int, g onnx.GRUGate) float64 {
		s := 0.0
		for k := 0; k < H; k++ {
			s += hv[b*H+k] * float64(g.Recurrent[k*H+j])
		}
		return s
	}
	for t := 0; t < T; t++ {
		next := make([]float64, B*H)
		z := make([]float64, B*H)
		r := make([]float64, B*H)
		for b := 0; b < B; b++ {
			for j := 0; j < H; j++ {
				z[b*H+j] = sigmoid(xw(t, b, j, p.Update) + hr(h, b, j, p.Update) +
					bias(p.Update.InputBias, j) + bias(p.Update.RecurrentBias, j))
				r[b*H+j] = sigmoid(xw(t, b, j, p.Reset) + hr(h, b, j, p.Reset) +
					bias(p.Reset.InputBias, j) + bias(p.Reset.RecurrentBias, j))
			}
		}
		rh := make([]float64, B*H)
		for i := range rh {
			rh[i] = r[i] * h[i]
		}
		for b := 0; b < B; b++ {
			for j := 0; j < H; j++ {
				var pre float64
				if linearBeforeReset {
					pre = xw(t, b, j, p.Hidden) + bias(p.Hidden.InputBias, j) +
						r[b*H+j]*(hr(h, b, j, p.Hidden)+bias(p.Hidden.RecurrentBias, j))
				} else {
					pre = xw(t, b, j, p.Hidden) + hr(rh, b, j, p.Hidden) +
						bias(p.Hidden.InputBias, j) + bias(p.Hidden.RecurrentBias, j)
				}
				cand := math.Tanh(pre)
				zz := z[b*H+j]
				next[b*H+j] = (1-zz)*cand + zz*h[b*H+j]
			}
		}
		h = next
		copy(y.data[t*B*H:], h)
	}
	return y, &nd{shape: []int{1, B, H}, data: h}
}

// randGRU returns random GRU parameters with weights in ±scale.
func randGRU(rng *rand.Rand, in, hidden int, scale float64) onnx.GRUParams {
	gate := func() onnx.GRUGate {
		return onnx.GRUGate{
			Input:         randF32(rng, in*hidden, -scale, scale),
			Recurrent:     randF32(rng, hidden*hidden, -scale, scale),
			InputBias:     randF32(rng, hidden, -scale, scale),
			RecurrentBias: randF32(rng, hidden, -scale, scale),
		}
	}
	return onnx.GRUParams{InputSize: in, HiddenSize: hidden, Update: gate(), Reset: gate(), Hidden: gate()}
}
