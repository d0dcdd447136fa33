package onnx_test

import "github.com/hydrognn/hydrognn/models/onnx"

// opTypes decodes a model and counts its nodes by "domain:op" ("op" for the
// default domain).
func opTypes(data []byte) (map[string]int, error) {
	m, err := onnx.Unmarshal(data)
	if err != nil {
		return nil, err
	}
	ops := map[string]int{}
	for _, n := range m.Graph.Nodes() {
		k := n.OpType
		if n.Domain != "" {
			k = n.Domain + ":" + k
		}
		ops[k]++
	}
	return ops, nil
}
