package train

import (
	"fmt"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/rig/rigtest"
)

// BenchmarkTrainStep measures one Adam step of the ZeMA model (17 sensors
// x 60 steps, 9 nodes) for a few batch sizes and widths:
//
//	go test ./models/train -run '^$' -bench TrainStep -benchtime 20x
func BenchmarkTrainStep(b *testing.B) {
	cfg := rigtest.Shipped(b, "zema-testrig")
	for _, c := range []struct {
		B     int
		sizes gnn.Sizes
	}{
		{32, gnn.Sizes{}},
		{64, gnn.Sizes{}},
		{32, gnn.Sizes{Patch: 20}},
		{32, gnn.Sizes{Hidden: 32, HeadHidden: 32, Window: 32, Readout: 32, Global: -1}},
	} {
		b.Run(fmt.Sprintf("B%d_D%d_P%d_r%d_G%d", c.B, c.sizes.Hidden, c.sizes.Patch, c.sizes.Window, c.sizes.Global), func(b *testing.B) {
			m, err := gnn.New(cfg, 60, c.sizes)
			if err != nil {
				b.Fatal(err)
			}
			backend, err := gnn.NewBackend("")
			if err != nil {
				b.Fatal(err)
			}
			defer backend.Finalize()
			lw := lossWeights{health: 1, recon: 0.1, classW: classWeights(cfg, nil, false)}
			e, err := newEngine(backend, m, gnn.InitWeights(m, 1), c.B, lw, 1e-3, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer e.close()
			ST := m.Sensors * m.Steps
			x, mask := make([]float32, c.B*ST), make([]float32, c.B*ST)
			for i := range x {
				x[i], mask[i] = float32(i%7)/7, 1
			}
			y := make([]float32, c.B*e.sumC)
			hy, hm := make([]float32, c.B*m.Nodes), make([]float32, c.B*m.Nodes)
			if _, err := e.trainStep(x, mask, y, hy, hm); err != nil { // compile
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := e.trainStep(x, mask, y, hy, hm); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(m.NumParams()), "params")
		})
	}
}
