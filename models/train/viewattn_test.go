package train

import (
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// TestTrainViewAttnDeterministic: a model whose targets attend over the
// window's steps (gnn.Sizes.ViewAttn) trains, moves its attention weights
// and gives bit-identical weights for one seed.
func TestTrainViewAttnDeterministic(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds := synthetic(t, cfg, 8, 5, 2)
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	opts.Sizes.ViewAttn = 4
	a := runTwice(t, opts, "runs")
	moved := false
	for i := range a.Weights {
		for j := range a.Weights[i].Data {
			if strings.HasSuffix(a.Weights[i].Name, "/attn/pos") && a.Weights[i].Data[j] != 0 {
				moved = true
			}
		}
	}
	if !moved {
		t.Fatal("the attention's step embeddings (initialised at 0) did not train")
	}
}
