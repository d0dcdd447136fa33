package export_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// TestReexportShipped re-exports each shipped bundle (models/bundles) from
// its own fp32 weights with this exporter into a temporary copy: every
// output of each new file is the old file's on the same windows (fp32 and
// int8, through ONNX Runtime, within fp32Tol: the same weights and
// quantised values, other graph), the new graphs have no more nodes on
// the inputs (and the pinned number), and re-exporting the re-exported
// bundle gives the same bytes.
func TestReexportShipped(t *testing.T) {
	ortEnv(t)
	root := repoRoot(t)
	for _, name := range []string{"zema-testrig", "excavator", "skab-testbed"} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(root, "models", "bundles", name)
			dir := t.TempDir()
			entries, err := os.ReadDir(src)
			require.NoError(t, err)
			for _, e := range entries {
				data, err := os.ReadFile(filepath.Join(src, e.Name()))
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644))
			}
			cfg := loadRig(t, name)
			oldMan, err := bundle.Load(src)
			require.NoError(t, err)
			man, err := export.Reexport(dir, cfg)
			require.NoError(t, err)
			_, err = bundle.Load(dir)
			require.NoError(t, err)

			S, T := len(man.Input.Sensors), man.Input.Steps
			B := 8
			rng := rand.New(rand.NewPCG(3, 4))
			x, mask := make([]float32, B*S*T), make([]float32, B*S*T)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
				if i/(S*T) != 1 && rng.Float64() > 0.05 { // window 1 wholly masked, some cells masked
					mask[i] = 1
				}
			}
			for i, mf := range man.Models {
				require.Equal(t, oldMan.Models[i].Thresholds, mf.Thresholds, mf.File)
				oldData, err := os.ReadFile(filepath.Join(src, mf.File))
				require.NoError(t, err)
				newData, err := os.ReadFile(filepath.Join(dir, mf.File))
				require.NoError(t, err)
				oldM, err := onnx.Unmarshal(oldData)
				require.NoError(t, err)
				newM, err := onnx.Unmarshal(newData)
				require.NoError(t, err)
				assert.Equal(t, oldM.Metadata, newM.Metadata, mf.File)
				assert.LessOrEqual(t, runtimeNodes(newM), runtimeNodes(oldM), mf.File)
				// Pinned: every node costs a cold call time (docs/benchmarks.md,
				// "Fewer graph nodes"); the exporter before 12ffa37 wrote 160
				// (zema-testrig), 169 (excavator) and 105 (skab-testbed).
				assert.Equal(t, map[string]int{"zema-testrig": 107, "excavator": 107, "skab-testbed": 102}[name],
					runtimeNodes(newM), "%s %s: nodes on the inputs", name, mf.File)
				t.Logf("%s: %d nodes on the inputs (%d in all), was %d (%d); %d bytes, was %d", mf.File,
					runtimeNodes(newM), len(newM.Graph.Nodes()), runtimeNodes(oldM), len(oldM.Graph.Nodes()), len(newData), len(oldData))
				var outs []string
				for _, o := range oldM.Graph.Outputs() {
					outs = append(outs, o.Name)
				}
				want := runORT(t, oldData, x, mask, B, S, T, outs)
				got := runORT(t, newData, x, mask, B, S, T, outs)
				for _, o := range outs {
					d, at := maxDiff(got[o], want[o])
					assert.LessOrEqual(t, d, fp32Tol, "%s %s element %d: %g, was %g", mf.File, o, at, got[o][at], want[o][at])
					t.Logf("%s %s: max relative difference %.2g", mf.File, o, d)
				}
			}
			// Idempotent: the re-exported bundle re-exports to the same bytes.
			again, err := export.Reexport(dir, cfg)
			require.NoError(t, err)
			for i := range man.Models {
				assert.Equal(t, man.Models[i].SHA256, again.Models[i].SHA256, man.Models[i].File)
			}
		})
	}
}

// runtimeNodes counts the nodes that depend on a graph input: those left
// after ONNX Runtime folds the nodes over initialisers at load.
func runtimeNodes(m *onnx.Model) int {
	live := map[string]bool{}
	for _, in := range m.Graph.Inputs() {
		live[in.Name] = true
	}
	n := 0
	for _, nd := range m.Graph.Nodes() { // topological order
		for _, in := range nd.Inputs {
			if live[in] {
				n++
				for _, o := range nd.Outputs {
					live[o] = true
				}
				break
			}
		}
	}
	return n
}
