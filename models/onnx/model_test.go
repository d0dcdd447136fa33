package onnx_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// small returns a graph with one input x [2, 3] and a constant w [3, 2].
func small(name string) (*onnx.Graph, onnx.Value, onnx.Value) {
	g := onnx.NewGraph(name)
	x := g.Input("x", onnx.Float32, onnx.Dim(2), onnx.Dim(3))
	w := g.Const("w", onnx.NewTensor([]float32{1, 2, 3, 4, 5, 6}, 3, 2))
	return g, x, w
}

func TestMarshalRejectsBadModels(t *testing.T) {
	cases := []struct {
		name  string
		build func() *onnx.Model
		want  string
	}{
		{"empty graph name", func() *onnx.Model {
			g := onnx.NewGraph("")
			return &onnx.Model{Graph: g}
		}, "graph name is empty"},
		{"no graph", func() *onnx.Model { return &onnx.Model{} }, "model has no graph"},
		{"no outputs", func() *onnx.Model {
			g, x, w := small("g")
			g.MatMul(x, w)
			return newModel(g)
		}, "graph has no outputs"},
		{"duplicate input", func() *onnx.Model {
			g, _, _ := small("g")
			g.Input("x", onnx.Float32)
			return newModel(g)
		}, `name "x" is already used`},
		{"initialiser named like an input", func() *onnx.Model {
			g, _, _ := small("g")
			g.Const("x", onnx.ScalarTensor(float32(1)))
			return newModel(g)
		}, `name "x" is already used`},
		{"value of another graph", func() *onnx.Model {
			g, x, _ := small("g")
			_, _, w2 := small("other")
			g.Output("y", g.MatMul(x, w2))
			return newModel(g)
		}, `input 1 "w" belongs to graph "other", not "g"`},
		{"tensor size mismatch", func() *onnx.Model {
			g, x, _ := small("g")
			w := g.Const("w2", onnx.NewTensor([]float32{1, 2, 3}, 2, 2))
			g.Output("y", g.MatMul(x, w))
			return newModel(g)
		}, `initialiser "w2": onnx: invalid model: tensor FLOAT[2 2] holds 12 bytes, want 4 elements x 4 bytes`},
		{"negative tensor dim", func() *onnx.Model {
			g, _, _ := small("g")
			g.Const("w2", &onnx.Tensor{DataType: onnx.Float32, Dims: []int64{-1}})
			return newModel(g)
		}, "dimension 0 is -1"},
		{"unsupported tensor type", func() *onnx.Model {
			g, _, _ := small("g")
			g.Const("w2", &onnx.Tensor{DataType: 11})
			return newModel(g)
		}, "element type DataType(11) is not supported"},
		{"attribute of wrong type", func() *onnx.Model {
			g, x, w := small("g")
			g.Output("y", g.Node("Gemm", x, w, onnx.AttrFloat("transB", 1)))
			return newModel(g)
		}, `node 0 "Gemm_1" (Gemm): Gemm attribute "transB" must be INT, got FLOAT`},
		{"unknown attribute", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("Relu", x, onnx.AttrFloat("alpha", 1)))
			return newModel(g)
		}, `Relu has no attribute "alpha" at opset 17 (it has none)`},
		{"missing required attribute", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("Cast", x, onnx.OutputTypes(onnx.Int32)))
			return newModel(g)
		}, `Cast requires attribute "to" (INT)`},
		{"GRU without hidden_size", func() *onnx.Model {
			g, x, w := small("g")
			g.Output("y", g.Node("GRU", x, w, w))
			return newModel(g)
		}, `GRU requires attribute "hidden_size"`},
		{"too few inputs", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("MatMul", x))
			return newModel(g)
		}, "MatMul takes 2 inputs at opset 17, got 1"},
		{"too many outputs", func() *onnx.Model {
			g, x, _ := small("g")
			out := g.NodeMulti("Relu", 2, x)
			g.Output("y", out[0])
			return newModel(g)
		}, "Relu has 1 outputs at opset 17, got 2"},
		{"missing required input", func() *onnx.Model {
			g, x, w := small("g")
			g.Output("y", g.Node("Where", onnx.Value{}, x, w))
			return newModel(g)
		}, "Where: input 0 is required but missing"},
		{"attribute with two values", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("LeakyRelu", x, onnx.Attribute{Name: "alpha", Type: onnx.AttrTypeFloat, Float: 0.1, Int: 3}))
			return newModel(g)
		}, `attribute "alpha" has type FLOAT but also a INT value`},
		{"attribute set twice", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("LeakyRelu", x, onnx.AttrFloat("alpha", 0.1), onnx.AttrFloat("alpha", 0.2)))
			return newModel(g)
		}, `attribute "alpha" is set twice`},
		{"attribute without name", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("LeakyRelu", x, onnx.AttrFloat("", 0.1)))
			return newModel(g)
		}, "attribute of type FLOAT has no name"},
		{"output type unknown", func() *onnx.Model {
			g, _, _ := small("g")
			g.Output("y", g.Node("Generate", onnx.Domain("com.example")))
			return newModel(g)
		}, `graph output "y": element type of value "Generate_1" is unknown`},
		{"domain not imported", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Node("Fancy", x, onnx.Domain("com.example")))
			return newModel(g)
		}, `domain "com.example" is not imported (add it to Model.Imports)`},
		{"duplicate node name", func() *onnx.Model {
			g, x, _ := small("g")
			g.Relu(x, onnx.NodeName("act"))
			g.Output("y", g.Tanh(x, onnx.NodeName("act")))
			return newModel(g)
		}, `node Tanh: node name "act" already used`},
		{"output name taken", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("w", g.Relu(x))
			return newModel(g)
		}, `graph output "w": name already used by another value`},
		{"bad input dim", func() *onnx.Model {
			g := onnx.NewGraph("g")
			g.Input("x", onnx.Float32, onnx.Dim(-2))
			return newModel(g)
		}, `graph input "x": dim 0: dimension -2 is negative`},
		{"undefined input type", func() *onnx.Model {
			g := onnx.NewGraph("g")
			g.Input("x", onnx.Undefined)
			return newModel(g)
		}, `graph input "x": element type UNDEFINED is not supported`},
		{"zero value for a required input", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.MatMul(x, onnx.Value{}))
			return newModel(g)
		}, "MatMul: input 1 is the zero Value but is required"},
		{"GRU hidden size", func() *onnx.Model {
			g, x, w := small("g")
			y, _ := g.GRU(x, w, w, onnx.Value{}, onnx.GRUConfig{})
			g.Output("y", y)
			return newModel(g)
		}, "GRU: HiddenSize is 0, want > 0"},
		{"empty metadata key", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", x)
			m := newModel(g)
			m.Metadata = map[string]string{"": "v"}
			return m
		}, "metadata key is empty"},
		{"default domain in Imports", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", x)
			m := newModel(g)
			m.Imports = map[string]int64{"": 17}
			return m
		}, `Imports[""]: set the default domain's version in Model.Opset`},
		{"split without sizes", func() *onnx.Model {
			g, x, _ := small("g")
			g.Output("y", g.Split(x, 0, nil)[0])
			return newModel(g)
		}, "Split: no sizes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.build().Marshal()
			require.Error(t, err)
			assert.True(t, errors.Is(err, onnx.ErrInvalid), "error %q does not wrap ErrInvalid", err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestBuilderNamesAndTypes(t *testing.T) {
	g, x, w := small("g")
	y := g.MatMul(x, w)
	assert.Equal(t, "MatMul_1", y.Name())
	assert.Equal(t, onnx.Float32, y.Type())
	s := g.Shape(y)
	assert.Equal(t, onnx.Int64, s.Type())
	assert.Equal(t, onnx.Bool, g.Equal(x, x).Type())
	assert.Equal(t, onnx.Int32, g.Cast(x, onnx.Int32).Type())
	q, scale, zp := g.DynamicQuantizeLinear(x)
	assert.Equal(t, []onnx.DataType{onnx.Uint8, onnx.Float32, onnx.Uint8}, []onnx.DataType{q.Type(), scale.Type(), zp.Type()})
	assert.Equal(t, g.Int64s(1, 2), g.Int64s(1, 2), "identical constants are shared")
	assert.NotEqual(t, g.Int64s(1, 2), g.Int64s(2, 1))
	named := g.Relu(y, onnx.NodeName("act"), onnx.OutputNames("activated"))
	assert.Equal(t, "activated", named.Name())

	g.Output("health", y, onnx.Dim(2), onnx.Dim(2)) // renames the generated MatMul_1
	assert.Equal(t, "health", y.Name())
	g.Output("act_out", named) // caller-named: copied by an Identity node
	g.Output("x_out", x)       // a graph input: copied too
	g.Output("again", y)       // already an output: copied too
	m := newModel(g)
	_, err := m.Marshal()
	require.NoError(t, err)

	var outs []string
	for _, o := range g.Outputs() {
		outs = append(outs, o.Name)
	}
	assert.Equal(t, []string{"health", "act_out", "x_out", "again"}, outs)
	assert.Equal(t, "health: FLOAT[2,2]", g.Outputs()[0].String())
	ops := map[string]int{}
	for _, n := range g.Nodes() {
		ops[n.OpType]++
	}
	assert.Equal(t, 3, ops["Identity"])
}

func TestTensorRoundTrip(t *testing.T) {
	f, err := onnx.TensorData[float32](onnx.NewTensor([]float32{1.5, -2}, 2))
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2}, f)
	i8, err := onnx.TensorData[int8](onnx.NewTensor([]int8{-128, 127}))
	require.NoError(t, err)
	assert.Equal(t, []int8{-128, 127}, i8)
	i64, err := onnx.TensorData[int64](onnx.NewTensor([]int64{-1, 1 << 40}))
	require.NoError(t, err)
	assert.Equal(t, []int64{-1, 1 << 40}, i64)
	b, err := onnx.TensorData[bool](onnx.NewTensor([]bool{true, false}))
	require.NoError(t, err)
	assert.Equal(t, []bool{true, false}, b)
	_, err = onnx.TensorData[int32](onnx.NewTensor([]float32{1}))
	assert.ErrorContains(t, err, "tensor holds FLOAT, not INT32")
	s := onnx.ScalarTensor(float32(3))
	assert.Empty(t, s.Dims)
	n, err := (&onnx.Tensor{DataType: onnx.Float32, Dims: []int64{1 << 62, 1 << 62}}).NumElements()
	assert.ErrorContains(t, err, "more than 2^63 elements")
	assert.Zero(t, n)
}

func TestPackGRURejectsBadSizes(t *testing.T) {
	_, _, _, err := onnx.PackGRU(onnx.GRUParams{InputSize: 2, HiddenSize: 3})
	assert.ErrorContains(t, err, "update gate Input has 0 values, want I*H = 2*3")
	_, _, _, err = onnx.PackGRU(onnx.GRUParams{})
	assert.ErrorContains(t, err, "must be > 0")
}
