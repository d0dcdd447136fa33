package train

import (
	"context"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// TestTrainViewAttnDeterministic: a model whose targets attend over the
// window's steps (gnn.Sizes.ViewAttn) trains, moves its attention weights
// and gives bit-identical weights for one seed.
func TestTrainViewAttnDeterministic(t *testing.T) {
	cfg := rigtest.Shipped(t, "zema-testrig")
	ds, err := LoadUCI(writeSynthetic(t, cfg, 8, 5, 2), cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	opts := tinyOptions(cfg, ds, 11)
	opts.Epochs = 2
	opts.Sizes.ViewAttn = 4
	a, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	moved := false
	for i := range a.Weights {
		for j := range a.Weights[i].Data {
			if a.Weights[i].Data[j] != b.Weights[i].Data[j] {
				t.Fatalf("weight %s[%d] differs between runs with one seed: %v vs %v",
					a.Weights[i].Name, j, a.Weights[i].Data[j], b.Weights[i].Data[j])
			}
			if strings.HasSuffix(a.Weights[i].Name, "/attn/pos") && a.Weights[i].Data[j] != 0 {
				moved = true
			}
		}
	}
	if !moved {
		t.Fatal("the attention's step embeddings (initialised at 0) did not train")
	}
}
