package onnx_test

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// Hand encoding of ModelProto pieces (field numbers of onnx.proto), to feed
// Unmarshal bytes that the builder would never produce.

func pcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func pvarint(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func pbytes(num protowire.Number, b []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), b)
}

func pstr(num protowire.Number, s string) []byte { return pbytes(num, []byte(s)) }

func pvalueInfo(name string, elem uint64, dims ...uint64) []byte {
	var shape []byte
	for _, d := range dims {
		shape = append(shape, pbytes(1, pvarint(1, d))...)
	}
	return pcat(pstr(1, name), pbytes(2, pbytes(1, pcat(pvarint(1, elem), pbytes(2, shape)))))
}

func pnode(op string, in, out []string, extra ...[]byte) []byte {
	var b []byte
	for _, s := range in {
		b = append(b, pstr(1, s)...)
	}
	for _, s := range out {
		b = append(b, pstr(2, s)...)
	}
	return pcat(append([][]byte{b, pstr(4, op)}, extra...)...)
}

// pmodel wraps graph fields into a ModelProto (IR 8, opset 17).
func pmodel(graph ...[]byte) []byte {
	return pcat(pvarint(1, 8), pbytes(7, pcat(append([][]byte{pstr(2, "g")}, graph...)...)),
		pbytes(8, pcat(pstr(1, ""), pvarint(2, 17))))
}

// allModels returns the encoded models of the op cases, GRUs and the toy
// GNN, for round-trip, checker and fuzz tests.
func allModels(tb testing.TB) map[string][]byte {
	tb.Helper()
	out := map[string][]byte{}
	put := func(name string, m *onnx.Model) {
		data, err := m.Marshal()
		require.NoError(tb, err, name)
		out[name] = data
	}
	for _, c := range opCases(tb) {
		put("op_"+c.name, c.model)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	p := randGRU(rng, toyF, toyH, 0.4)
	put("gru_lbr0", gruModel(tb, p, false, false))
	put("gru_lbr1_h0", gruModel(tb, p, true, true))
	toy := newToy(rng)
	put("toy_fp32", toy.model(tb))
	for name, q := range toy.quantized(tb) {
		put("toy_"+name, q.model)
	}
	return out
}

func TestUnmarshalRoundTrip(t *testing.T) {
	for name, data := range allModels(t) {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Unmarshal(data)
			require.NoError(t, err)
			again, err := m.Marshal()
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, again), "re-encoding the decoded model changes its bytes")
		})
	}
}

func TestUnmarshalKeepsEverything(t *testing.T) {
	g, x, w := small("meta")
	g.Doc = "a graph"
	y := g.Node("Gemm", x, w, onnx.AttrFloat("alpha", 0.5), onnx.AttrInt("transA", 0),
		onnx.NodeName("gemm"))
	z := g.Node("Custom", y, onnx.Domain("io.hydrognn"), onnx.AttrString("mode", "fast"),
		onnx.AttrInts("axes", 1, -1), onnx.AttrFloats("coeffs", 0.5, -0.25),
		onnx.AttrStrings("names", "a", ""), onnx.AttrTensor("table", onnx.NewTensor([]int32{1, -2}, 2)))
	g.Output("z", z, onnx.Dim("batch"), onnx.Dim(-1))
	g.Input("scalar", onnx.Bool)
	m := &onnx.Model{Graph: g, Imports: map[string]int64{"io.hydrognn": 3}, IRVersion: 9,
		Producer: "p", ProducerVersion: "v", Domain: "io.hydrognn", ModelVersion: 42, Doc: "d",
		Metadata: map[string]string{"rig": "zema", "window": "60"}}
	data, err := m.Marshal()
	require.NoError(t, err)
	got, err := onnx.Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, int64(17), got.Opset)
	assert.Equal(t, m.Imports, got.Imports)
	assert.Equal(t, m.Metadata, got.Metadata)
	assert.Equal(t, []any{int64(9), "p", "v", "io.hydrognn", int64(42), "d"},
		[]any{got.IRVersion, got.Producer, got.ProducerVersion, got.Domain, got.ModelVersion, got.Doc})
	assert.Equal(t, "a graph", got.Graph.Doc)
	assert.Equal(t, g.Inputs(), got.Graph.Inputs())
	assert.Equal(t, g.Outputs(), got.Graph.Outputs())
	assert.Equal(t, g.Initializers(), got.Graph.Initializers())
	assert.Equal(t, g.Nodes(), got.Graph.Nodes())
}

func TestUnmarshalTypedDataFields(t *testing.T) {
	floatData := protowire.AppendFixed32(protowire.AppendFixed32(nil, math.Float32bits(1.5)), math.Float32bits(-2))
	data := pmodel(
		pbytes(1, pnode("Add", []string{"f", "f"}, []string{"y"})),
		// float_data packed, dims unpacked
		pbytes(5, pcat(pvarint(1, 2), pvarint(2, 1), pstr(8, "f"), pbytes(4, floatData))),
		// int32_data unpacked for an INT8 tensor, dims packed
		pbytes(5, pcat(pbytes(1, protowire.AppendVarint(nil, 3)), pvarint(2, 3), pstr(8, "i8"),
			pvarint(5, uint64(0xFFFFFFFFFFFFFF80)), pvarint(5, 0), pvarint(5, 127))),
		pbytes(5, pcat(pvarint(2, 7), pstr(8, "i64"), pbytes(7, protowire.AppendVarint(nil, uint64(math.MaxUint64))))),
		pbytes(12, pvalueInfo("y", 1, 2)))
	m, err := onnx.Unmarshal(data)
	require.NoError(t, err)
	inits := m.Graph.Initializers()
	require.Len(t, inits, 3)
	f, err := onnx.TensorData[float32](inits[0].Tensor)
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2}, f)
	i8, err := onnx.TensorData[int8](inits[1].Tensor)
	require.NoError(t, err)
	assert.Equal(t, []int8{-128, 0, 127}, i8)
	i64, err := onnx.TensorData[int64](inits[2].Tensor)
	require.NoError(t, err)
	assert.Equal(t, []int64{-1}, i64)
	assert.Empty(t, inits[2].Tensor.Dims, "a tensor without dims is a scalar")
}

func TestUnmarshalRejectsBadInput(t *testing.T) {
	addNode := pbytes(1, pnode("Add", []string{"x", "x"}, []string{"y"}))
	x := pbytes(11, pvalueInfo("x", 1, 2))
	y := pbytes(12, pvalueInfo("y", 1, 2))
	valid := pmodel(addNode, x, y)
	_, err := onnx.Unmarshal(valid)
	require.NoError(t, err, "the base of the bad cases must be valid")

	cases := []struct {
		name string
		data []byte
		is   error
		want string
	}{
		{"empty", nil, onnx.ErrInvalid, "ir_version is missing"},
		{"truncated", valid[:len(valid)-3], onnx.ErrMalformed, "ModelProto at byte"},
		{"bad tag", []byte{0x00}, onnx.ErrMalformed, "bad tag"},
		{"wrong wire type", pcat(pstr(1, "8"), valid), onnx.ErrMalformed, "ModelProto.1 at byte 2: wire type 2, want 0"},
		{"no opset", pcat(pvarint(1, 8), pbytes(7, pcat(pstr(2, "g"), addNode, x, y))), onnx.ErrInvalid,
			"no opset_import for the default domain"},
		{"no graph", pcat(pvarint(1, 8), pbytes(8, pvarint(2, 17))), onnx.ErrInvalid, "graph is missing"},
		{"graph twice", pcat(valid, pbytes(7, nil)), onnx.ErrMalformed, "graph given twice"},
		{"duplicate metadata", pcat(valid, pbytes(14, pstr(1, "k")), pbytes(14, pstr(1, "k"))), onnx.ErrInvalid,
			`metadata key "k" given twice`},
		{"out of order", pmodel(pbytes(1, pnode("Relu", []string{"y"}, []string{"z"})), addNode, x,
			pbytes(12, pvalueInfo("z", 1, 2))), onnx.ErrInvalid,
			`node 0 "" (Relu): input 0 "y" is used before it is defined (by node 1 "")`},
		{"undefined input", pmodel(pbytes(1, pnode("Add", []string{"x", "nope"}, []string{"y"})), x, y),
			onnx.ErrInvalid, `node 0 "" (Add): input 1 "nope" is not a graph input, initialiser or node output`},
		{"undefined output", pmodel(addNode, x, pbytes(12, pvalueInfo("nope", 1, 2))), onnx.ErrInvalid,
			`graph output "nope" is not a graph input`},
		{"duplicate value", pmodel(addNode, pbytes(1, pnode("Neg", []string{"x"}, []string{"y"})), x, y),
			onnx.ErrInvalid, `name "y" is already used`},
		{"double tensor", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(2, 11), pstr(8, "d")))),
			onnx.ErrUnsupported, "tensor \"d\" has element type 11"},
		{"external data", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(2, 1), pstr(8, "e"),
			pbytes(13, pstr(1, "location"))))), onnx.ErrUnsupported, "external file"},
		{"raw size mismatch", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(1, 3), pvarint(2, 1), pstr(8, "r"),
			pbytes(9, []byte{1, 2, 3, 4})))), onnx.ErrInvalid, "holds 4 bytes, want 3 elements x 4 bytes"},
		{"two data fields", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(2, 1), pstr(8, "r"),
			pbytes(9, []byte{1, 2, 3, 4}), pbytes(4, []byte{1, 2, 3, 4})))), onnx.ErrInvalid, "more than one of raw_data"},
		{"int8 out of range", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(2, 3), pstr(8, "q"), pvarint(5, 300)))),
			onnx.ErrInvalid, "int32_data[0] = 300 is out of range for INT8"},
		{"huge dims", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(1, 1<<62), pvarint(1, 1<<62), pvarint(2, 1),
			pstr(8, "h")))), onnx.ErrInvalid, "more than 2^63 elements"},
		{"unnamed initialiser", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(2, 1), pbytes(9, make([]byte, 4))))), onnx.ErrInvalid,
			"initialiser has no name"},
		{"graph attribute", pmodel(pbytes(1, pnode("If", []string{"x"}, []string{"y"},
			pbytes(5, pcat(pstr(1, "then_branch"), pbytes(6, nil), pvarint(20, 5))))), x, y),
			onnx.ErrUnsupported, `attribute "then_branch" holds a graph`},
		{"untyped attribute", pmodel(pbytes(1, pnode("LeakyRelu", []string{"x"}, []string{"y"},
			pbytes(5, pstr(1, "alpha")))), x, y), onnx.ErrInvalid, `attribute "alpha" has no type`},
		{"sequence type", pmodel(addNode, y, pbytes(11, pcat(pstr(1, "x"), pbytes(2, pbytes(4, nil))))),
			onnx.ErrUnsupported, `value "x" is not a dense tensor`},
		{"input is initialiser", pmodel(addNode, x, y, pbytes(5, pcat(pvarint(1, 2), pvarint(2, 1), pstr(8, "x"),
			pbytes(9, make([]byte, 8))))), onnx.ErrUnsupported, `input "x" is also an initialiser`},
		{"functions", pcat(valid, pbytes(25, nil)), onnx.ErrUnsupported, "model-local functions"},
		{"input without type", pmodel(addNode, y, pbytes(11, pstr(1, "x"))), onnx.ErrInvalid, `value "x" has no type`},
		{"negative dim", pmodel(addNode, y, pbytes(11, pcat(pstr(1, "x"), pbytes(2, pbytes(1, pcat(pvarint(1, 1),
			pbytes(2, pbytes(1, pvarint(1, uint64(math.MaxUint64)))))))))), onnx.ErrInvalid, "dim_value -1 is negative"},
		{"bad attribute for op", pmodel(pbytes(1, pnode("Add", []string{"x", "x"}, []string{"y"},
			pbytes(5, pcat(pstr(1, "axis"), pvarint(3, 1), pvarint(20, 2))))), x, y), onnx.ErrInvalid,
			`Add has no attribute "axis"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := onnx.Unmarshal(c.data)
			require.Error(t, err)
			assert.True(t, errors.Is(err, c.is), "error %q does not wrap %v", err, c.is)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// FuzzUnmarshal checks that Unmarshal never panics, classifies every error,
// and that whatever it accepts re-encodes to a fixed point.
func FuzzUnmarshal(f *testing.F) {
	for _, data := range allModels(f) {
		f.Add(data)
	}
	f.Add(pmodel(pbytes(1, pnode("Add", []string{"x", "x"}, []string{"y"})),
		pbytes(11, pvalueInfo("x", 1, 2)), pbytes(12, pvalueInfo("y", 1, 2))))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Unmarshal(data)
		if err != nil {
			if !errors.Is(err, onnx.ErrMalformed) && !errors.Is(err, onnx.ErrInvalid) && !errors.Is(err, onnx.ErrUnsupported) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		b1, err := m.Marshal()
		if err != nil {
			t.Fatalf("a decoded model does not marshal: %v", err)
		}
		m2, err := onnx.Unmarshal(b1)
		if err != nil {
			t.Fatalf("a re-encoded model does not decode: %v", err)
		}
		b2, err := m2.Marshal()
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not a fixed point (err %v)", err)
		}
	})
}

// TestUnmarshalAllocationBound decodes inputs built to make a naive decoder
// allocate far more than their size, and bounds what Unmarshal allocates.
func TestUnmarshalAllocationBound(t *testing.T) {
	const n = 1 << 20
	ones := bytes.Repeat([]byte{1}, n)
	x := pbytes(11, pvalueInfo("x", 1, 2))
	y := pbytes(12, pvalueInfo("y", 1, 2))
	var manyNodes []byte
	for i := 0; i < n/64; i++ {
		manyNodes = append(manyNodes, pbytes(1, pnode("Neg", []string{"x"}, []string{"v" + strconv.Itoa(i)}))...)
	}
	cases := map[string][]byte{
		// 1 Mi one-byte varints, each an int64 attribute value.
		"packed ints": pmodel(pbytes(1, pnode("Custom", []string{"x"}, []string{"y"},
			pbytes(5, pcat(pstr(1, "many"), pbytes(8, ones), pvarint(20, 7))))), x, y),
		// A shape of 2^60 elements with no data behind it.
		"huge shape": pmodel(pbytes(1, pnode("Add", []string{"x", "x"}, []string{"y"})), x, y,
			pbytes(5, pcat(pvarint(1, 1<<30), pvarint(1, 1<<30), pvarint(2, 1), pstr(8, "h")))),
		// Sixteen thousand minimal nodes.
		"many nodes": pmodel(manyNodes, pbytes(1, pnode("Neg", []string{"x"}, []string{"y"})), x, y),
		// A length prefix claiming 2^40 bytes.
		"long length": pcat(pvarint(1, 8), protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.BytesType), 1<<40)),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := onnx.Unmarshal(data)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d input bytes, %d allocated, err %v", len(data), allocated, err)
			assert.LessOrEqual(t, allocated, uint64(48*len(data)+1<<20))
		})
	}
}
