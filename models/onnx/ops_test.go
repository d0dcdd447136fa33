package onnx_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// fp32Tol is the tolerance of fp32 ONNX Runtime results against the float64
// reference: |got - want| <= fp32Tol * max(1, |want|).
const fp32Tol = 1e-5

// opCase is a small model exercising some typed helpers, its inputs and the
// float64 reference of each output.
type opCase struct {
	name  string
	model *onnx.Model
	feeds []feed
	want  map[string]*nd
	tol   float64 // 0: fp32Tol
}

func newModel(g *onnx.Graph) *onnx.Model {
	return &onnx.Model{Graph: g, Producer: "hydrognn-onnx-test", ProducerVersion: "test"}
}

// input adds a FLOAT graph input with random values and returns the value,
// its feed and its reference.
func input(g *onnx.Graph, rng *rand.Rand, name string, lo, hi float64, dims ...int) (onnx.Value, feed, *nd) {
	ref := fromF32(randF32(rng, zeros(dims...).len(), lo, hi), dims...)
	ds := make([]onnx.Dimension, len(dims))
	for i, d := range dims {
		ds[i] = onnx.Dim(d)
	}
	return g.Input(name, onnx.Float32, ds...), feed{name: name, shape: ref.shape64(), data: ref.f32()}, ref
}

func (a *nd) len() int { return len(a.data) }

func dimsOf(a *nd) []onnx.Dimension {
	ds := make([]onnx.Dimension, len(a.shape))
	for i, d := range a.shape {
		ds[i] = onnx.Dim(d)
	}
	return ds
}

// output declares v as an output with the reference's shape and records the
// reference.
func output(g *onnx.Graph, want map[string]*nd, name string, v onnx.Value, ref *nd) {
	g.Output(name, v, dimsOf(ref)...)
	want[name] = ref
}

// opCases returns the per-op test models; every typed helper appears.
func opCases(tb testing.TB) []opCase {
	tb.Helper()
	var cases []opCase
	add := func(name string, build func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed) {
		rng := rand.New(rand.NewPCG(uint64(len(cases)), 7))
		g := onnx.NewGraph(name)
		want := map[string]*nd{}
		feeds := build(g, rng, want)
		require.NoError(tb, g.Err(), name)
		cases = append(cases, opCase{name: name, model: newModel(g), feeds: feeds, want: want})
	}

	add("matmul", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -1, 1, 2, 3, 4)
		w := fromF32(randF32(rng, 20, -1, 1), 4, 5)
		output(g, want, "y", g.MatMul(x, g.Const("w", w.tensor())), matmul(xr, w))
		return []feed{f}
	})
	add("gemm", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		a, f, ar := input(g, rng, "a", -1, 1, 3, 4)
		b := fromF32(randF32(rng, 20, -1, 1), 5, 4)
		c := fromF32(randF32(rng, 5, -1, 1), 5)
		y := g.Gemm(a, g.Const("b", b.tensor()), g.Const("c", c.tensor()),
			onnx.GemmConfig{TransB: true, Alpha: 0.5, Beta: 2})
		ref := binary(unary(matmul(ar, transpose(b, 1, 0)), func(x float64) float64 { return 0.5 * x }),
			c, func(x, y float64) float64 { return x + 2*y })
		output(g, want, "y", y, ref)
		y2 := g.Gemm(a, g.Const("b2", transpose(b, 1, 0).tensor()), onnx.Value{}, onnx.GemmConfig{})
		output(g, want, "y2", y2, matmul(ar, transpose(b, 1, 0)))
		return []feed{f}
	})
	add("arithmetic", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		a, fa, ar := input(g, rng, "a", -2, 2, 2, 3, 4)
		b, fb, br := input(g, rng, "b", 0.5, 2, 4)
		output(g, want, "add", g.Add(a, b), addND(ar, br))
		output(g, want, "sub", g.Sub(a, b), binary(ar, br, func(x, y float64) float64 { return x - y }))
		output(g, want, "mul", g.Mul(a, b), binary(ar, br, func(x, y float64) float64 { return x * y }))
		output(g, want, "div", g.Div(a, b), binary(ar, br, func(x, y float64) float64 { return x / y }))
		output(g, want, "pow", g.Pow(b, g.Scalar(1.5)), unary(br, func(x float64) float64 { return math.Pow(x, 1.5) }))
		return []feed{fa, fb}
	})
	add("activations", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -3, 3, 3, 5)
		p, fp, pr := input(g, rng, "p", 0.1, 4, 3, 5)
		output(g, want, "sigmoid", g.Sigmoid(x), unary(xr, sigmoid))
		output(g, want, "tanh", g.Tanh(x), unary(xr, math.Tanh))
		output(g, want, "relu", g.Relu(x), unary(xr, func(v float64) float64 { return max(v, 0) }))
		output(g, want, "leaky", g.LeakyRelu(x, 0.2), unary(xr, func(v float64) float64 {
			if v < 0 {
				return 0.2 * v
			}
			return v
		}))
		output(g, want, "exp", g.Exp(x), unary(xr, math.Exp))
		output(g, want, "log", g.Log(p), unary(pr, math.Log))
		output(g, want, "sqrt", g.Sqrt(p), unary(pr, math.Sqrt))
		output(g, want, "softmax_last", g.Softmax(x, -1), softmax(xr, -1))
		output(g, want, "softmax_0", g.Softmax(x, 0), softmax(xr, 0))
		return []feed{f, fp}
	})
	add("reduce", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -1, 1, 2, 3, 4)
		output(g, want, "mean_1", g.ReduceMean(x, []int64{1}, true), reduceMean(xr, []int{1}, true))
		output(g, want, "mean_all", g.ReduceMean(x, nil, true), reduceMean(xr, nil, true))
		output(g, want, "mean_02", g.ReduceMean(x, []int64{0, 2}, false), reduceMean(xr, []int{0, 2}, false))
		output(g, want, "sum_02", g.ReduceSum(x, []int64{0, -1}, false), reduceSum(xr, []int{0, 2}, false))
		output(g, want, "sum_all", g.ReduceSum(x, nil, true), reduceSum(xr, nil, true))
		return []feed{f}
	})
	add("shape_ops", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -1, 1, 2, 3, 4)
		output(g, want, "transpose", g.Transpose(x, []int64{2, 0, 1}), transpose(xr, 2, 0, 1))
		output(g, want, "reverse", g.Transpose(x, nil), transpose(xr, 2, 1, 0))
		output(g, want, "reshape", g.Reshape(x, g.Int64s(0, -1)), reshape(xr, 2, 12))
		output(g, want, "concat", g.Concat(1, []onnx.Value{x, g.Node("Neg", x), x}),
			concat(1, xr, unary(xr, func(v float64) float64 { return -v }), xr))
		output(g, want, "slice", g.Slice(x, []int64{1, 0}, []int64{3, 100}, []int64{1, 2}, []int64{1, 2}),
			slice(xr, []int{1, 0}, []int{3, 100}, []int{1, 2}, []int{1, 2}))
		output(g, want, "slice_simple", g.Slice(x, []int64{1}, []int64{2}, nil, nil),
			slice(xr, []int{1}, []int{2}, []int{0}, []int{1}))
		idx := []int64{3, 0, 0, 2}
		ind := g.Const("indices", onnx.NewTensor(idx, 2, 2))
		output(g, want, "gather", g.Gather(x, ind, 2), gather(xr, 2, []int{3, 0, 0, 2}, []int{2, 2}))
		u := g.Unsqueeze(x, []int64{0, 3})
		output(g, want, "unsqueeze", u, reshape(xr, 1, 2, 3, 1, 4))
		output(g, want, "squeeze", g.Squeeze(u, []int64{3}), reshape(xr, 1, 2, 3, 4))
		output(g, want, "squeeze_all", g.Squeeze(u, nil), xr)
		parts := g.Split(x, 1, []int64{1, 2})
		output(g, want, "split_0", parts[0], slice(xr, []int{0}, []int{1}, []int{1}, []int{1}))
		output(g, want, "split_1", parts[1], slice(xr, []int{1}, []int{3}, []int{1}, []int{1}))
		col, fc, cr := input(g, rng, "col", -1, 1, 3, 1)
		output(g, want, "expand", g.Expand(col, g.Int64s(2, 3, 4)), mapN(func(v ...float64) float64 { return v[0] }, cr, zeros(2, 3, 4)))
		output(g, want, "shape", g.Shape(x), &nd{shape: []int{3}, data: []float64{2, 3, 4}})
		return []feed{f, fc}
	})
	add("where_equal_cast", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -3, 3, 4, 5)
		adjData := make([]int64, 20)
		for i := range adjData {
			adjData[i] = int64(rng.IntN(2))
		}
		adj := g.Input("adj", onnx.Int64, onnx.Dim(4), onnx.Dim(5))
		mask := g.Equal(adj, g.Const("one", onnx.ScalarTensor(int64(1))))
		out := g.Where(mask, x, g.Scalar(-1e9))
		adjRef := &nd{shape: []int{4, 5}}
		for _, v := range adjData {
			adjRef.data = append(adjRef.data, float64(v))
		}
		output(g, want, "where", out, binary(adjRef, xr, func(m, v float64) float64 {
			if m == 1 {
				return v
			}
			return -1e9
		}))
		output(g, want, "mask", mask, adjRef)
		output(g, want, "trunc", g.Cast(g.Mul(x, g.Scalar(10)), onnx.Int32),
			unary(xr, func(v float64) float64 { return math.Trunc(float64(float32(v) * 10)) }))
		output(g, want, "adj_f", g.Cast(adj, onnx.Float32), adjRef)
		return []feed{f, {name: "adj", shape: []int64{4, 5}, data: adjData}}
	})
	add("layernorm", func(g *onnx.Graph, rng *rand.Rand, want map[string]*nd) []feed {
		x, f, xr := input(g, rng, "x", -2, 2, 2, 3, 8)
		scale := fromF32(randF32(rng, 8, 0.5, 1.5), 8)
		bias := fromF32(randF32(rng, 8, -0.5, 0.5), 8)
		output(g, want, "ln", g.LayerNormalization(x, g.Const("scale", scale.tensor()), g.Const("bias", bias.tensor()), -1, 1e-5),
			layerNorm(xr, scale, bias, -1, 1e-5))
		scale2 := fromF32(randF32(rng, 24, 0.5, 1.5), 3, 8)
		output(g, want, "ln_nobias", g.LayerNormalization(x, g.Const("scale2", scale2.tensor()), onnx.Value{}, 1, 1e-3),
			layerNorm(xr, scale2, nil, 1, 1e-3))
		return []feed{f}
	})
	return cases
}

func TestOpsAgainstReference(t *testing.T) {
	for _, c := range opCases(t) {
		t.Run(c.name, func(t *testing.T) {
			data, err := c.model.Marshal()
			require.NoError(t, err)
			names := make([]string, 0, len(c.want))
			for n := range c.want {
				names = append(names, n)
			}
			slices.Sort(names)
			got := runModel(t, data, c.feeds, names, nil)
			tol := c.tol
			if tol == 0 {
				tol = fp32Tol
			}
			for _, n := range names {
				assertClose(t, n, got[n], c.want[n], tol)
			}
		})
	}
}
