package onnx_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// Benchmarks: results and the command that produced them are in README.md.

// BenchmarkBuildMarshal builds the toy GNN (weights already in memory) and
// encodes it.
func BenchmarkBuildMarshal(b *testing.B) {
	toy := newToy(rand.New(rand.NewPCG(1, 2)))
	b.ReportAllocs()
	var size int
	for b.Loop() {
		data, err := toy.model(b).Marshal()
		if err != nil {
			b.Fatal(err)
		}
		size = len(data)
	}
	b.ReportMetric(float64(size), "model-bytes")
}

// BenchmarkUnmarshal decodes the toy GNN.
func BenchmarkUnmarshal(b *testing.B) {
	data, err := newToy(rand.New(rand.NewPCG(1, 2))).model(b).Marshal()
	require.NoError(b, err)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := onnx.Unmarshal(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkQuantize runs each quantisation pass over the toy GNN.
func BenchmarkQuantize(b *testing.B) {
	m := newToy(rand.New(rand.NewPCG(1, 2))).model(b)
	for _, s := range []onnx.Scheme{onnx.WeightOnly, onnx.Dynamic} {
		b.Run(s.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := onnx.Quantize(m, onnx.QuantOptions{Scheme: s, PerChannel: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchSession is a session with preallocated input and outputs, as the
// agent runs it.
type benchSession struct {
	s    *ort.AdvancedSession
	outs []*ort.Tensor[float32]
}

func newBenchSession(b *testing.B, data []byte, in feed, outNames []string, outShapes [][]int64, config map[string]string) *benchSession {
	b.Helper()
	ortEnv(b)
	x := newValue(b, in)
	b.Cleanup(func() { _ = x.Destroy() })
	bs := &benchSession{}
	outs := make([]ort.Value, len(outShapes))
	for i, sh := range outShapes {
		t, err := ort.NewEmptyTensor[float32](ort.NewShape(sh...))
		require.NoError(b, err)
		b.Cleanup(func() { _ = t.Destroy() })
		bs.outs = append(bs.outs, t)
		outs[i] = t
	}
	s, err := ort.NewAdvancedSessionWithONNXData(data, []string{in.name}, outNames, []ort.Value{x}, outs,
		sessionOptions(b, config))
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Destroy() })
	bs.s = s
	return bs
}

// BenchmarkToyORT runs the toy GNN (window [1, 17, 60, 4]) in ONNX Runtime
// with one intra-op thread, in fp32 and each int8 form.
func BenchmarkToyORT(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	toy := newToy(rng)
	x := toyWindow(rng, 1)
	in := feed{name: "window", shape: x.shape64(), data: x.f32()}
	fp, err := toy.model(b).Marshal()
	require.NoError(b, err)
	type variant struct {
		name   string
		data   []byte
		config map[string]string
	}
	variants := []variant{{"fp32", fp, nil}}
	q := toy.quantized(b)
	for _, name := range []string{"qdq_tensor", "qdq_channel", "dynamic_s8", "dynamic_s8_channel", "dynamic_u8"} {
		data, err := q[name].model.Marshal()
		require.NoError(b, err)
		variants = append(variants, variant{name, data, q[name].config})
	}
	data, err := q["qdq_channel"].model.Marshal()
	require.NoError(b, err)
	variants = append(variants, variant{"qdq_channel_unfolded", data, nil})
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			s := newBenchSession(b, v.data, in, []string{"health", "condition"},
				[][]int64{{1, toyN}, {1, toyClasses}}, v.config)
			b.ReportAllocs()
			for b.Loop() {
				if err := s.s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(v.data)), "model-bytes")
		})
	}
}

// BenchmarkMatMulORT runs one MatMul [M, K]·[K, N] in ONNX Runtime (one
// intra-op thread) in fp32, weight-only int8 (folded at load) and dynamic
// int8, to show where int8 arithmetic starts to pay.
func BenchmarkMatMulORT(b *testing.B) {
	for _, sz := range [][3]int{{17, 32, 32}, {17, 128, 128}, {17, 512, 512}, {256, 256, 256}, {1020, 256, 256}, {64, 1024, 1024}} {
		m, k, n := sz[0], sz[1], sz[2]
		rng := rand.New(rand.NewPCG(uint64(k), uint64(n)))
		g := onnx.NewGraph("matmul")
		x := g.Input("x", onnx.Float32, onnx.Dim(m), onnx.Dim(k))
		w := g.Const("w", onnx.NewTensor(randF32(rng, k*n, -0.1, 0.1), int64(k), int64(n)))
		g.Output("y", g.MatMul(x, w), onnx.Dim(m), onnx.Dim(n))
		model := newModel(g)
		fp, err := model.Marshal()
		require.NoError(b, err)
		in := feed{name: "x", shape: []int64{int64(m), int64(k)}, data: randF32(rng, m*k, -1, 1)}
		forms := []struct {
			name   string
			opts   *onnx.QuantOptions
			config map[string]string
		}{
			{"fp32", nil, nil},
			{"qdq", &onnx.QuantOptions{Scheme: onnx.WeightOnly, PerChannel: true}, disableQDQ},
			{"dynamic_s8", &onnx.QuantOptions{Scheme: onnx.Dynamic, PerChannel: true}, nil},
			{"dynamic_u8", &onnx.QuantOptions{Scheme: onnx.Dynamic, PerChannel: true, WeightType: onnx.Uint8}, nil},
		}
		for _, f := range forms {
			data := fp
			if f.opts != nil {
				q, _, err := onnx.Quantize(model, *f.opts)
				require.NoError(b, err)
				data, err = q.Marshal()
				require.NoError(b, err)
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", m, k, n, f.name), func(b *testing.B) {
				s := newBenchSession(b, data, in, []string{"y"}, [][]int64{{int64(m), int64(n)}}, f.config)
				b.ReportAllocs()
				for b.Loop() {
					if err := s.s.Run(); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(data)), "model-bytes")
			})
		}
	}
}
