package onnx_test

import (
	"fmt"

	"github.com/hydrognn/hydrognn/models/onnx"
)

// Build a one-layer model, encode it, read it back and list its nodes.
func Example() {
	g := onnx.NewGraph("example")
	x := g.Input("x", onnx.Float32, onnx.Dim("batch"), onnx.Dim(3))
	w := g.Const("W", onnx.NewTensor([]float32{1, 0, 0, 1, 1, 1}, 3, 2))
	b := g.Const("b", onnx.NewTensor([]float32{0.5, -0.5}, 2))
	y := g.Sigmoid(g.Add(g.MatMul(x, w), b))
	g.Output("health", y, onnx.Dim("batch"), onnx.Dim(2))

	data, err := (&onnx.Model{Graph: g, Producer: "hydrognn",
		Metadata: map[string]string{"rig": "zema"}}).Marshal()
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := onnx.Unmarshal(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("opset", m.Opset, "metadata", m.Metadata)
	fmt.Println("inputs", m.Graph.Inputs(), "outputs", m.Graph.Outputs())
	for _, n := range m.Graph.Nodes() {
		fmt.Println(n.Name, n.OpType, n.Inputs, "->", n.Outputs)
	}
	// Output:
	// opset 17 metadata map[rig:zema]
	// inputs [x: FLOAT[batch,3]] outputs [health: FLOAT[batch,2]]
	// MatMul_1 MatMul [x W] -> [MatMul_1]
	// Add_2 Add [MatMul_1 b] -> [Add_2]
	// Sigmoid_3 Sigmoid [Add_2] -> [health]
}

// A mistake made while building is reported by Marshal, with the node.
func ExampleModel_Marshal_error() {
	g := onnx.NewGraph("bad")
	x := g.Input("x", onnx.Float32, onnx.Dim(2))
	g.Output("y", g.Node("LeakyRelu", x, onnx.AttrInt("alpha", 1)))
	_, err := (&onnx.Model{Graph: g}).Marshal()
	fmt.Println(err)
	// Output:
	// marshal onnx model: onnx: invalid model: graph "bad": node 0 "LeakyRelu_1" (LeakyRelu): LeakyRelu attribute "alpha" must be FLOAT, got INT
}
