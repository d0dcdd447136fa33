package export_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
)

// fp32Tol bounds |ONNX Runtime - gnn.Forward| / max(1, |gnn.Forward|) for
// the fp32 model: both run float32 arithmetic, in different orders.
const fp32Tol = 1e-4

// Int8 tolerances against the fp32 model on the same windows (absolute
// for probabilities and health in [0, 1], relative for the anomaly
// error). Weight rounding at 8 bits moves them by a few 1e-3 on the tiny
// trained model; these bounds leave a margin of several times that.
const (
	int8ProbTol    = 0.05
	int8AnomalyTol = 0.15
)

// forward runs the GoMLX reference.
func forward(tb testing.TB, m *gnn.Model, w gnn.Weights, x, mask []float32) *gnn.Result {
	tb.Helper()
	backend, err := gnn.NewBackend("go")
	require.NoError(tb, err)
	defer backend.Finalize()
	res, err := gnn.Forward(backend, m, w, x, mask)
	require.NoError(tb, err)
	return res
}

// compare checks every output of the ONNX model against the reference and
// returns the worst relative error per output.
func compare(tb testing.TB, m *gnn.Model, got map[string][]float32, want *gnn.Result, tol float64) map[string]float64 {
	tb.Helper()
	errs := map[string]float64{}
	check := func(name string, g, w []float32) {
		require.Len(tb, g, len(w), name)
		d, at := maxDiff(g, w)
		errs[name] = d
		if d > tol {
			tb.Errorf("%s: element %d = %g, gnn.Forward %g (relative error %.3g > %.3g)", name, at, g[at], w[at], d, tol)
		}
	}
	check(export.OutputHealth, got[export.OutputHealth], want.Health)
	for i, t := range m.Targets {
		check(export.TargetOutput(t.Name), got[export.TargetOutput(t.Name)], want.Probs[i])
	}
	check(export.OutputAnomaly, got[export.OutputAnomaly], want.Anomaly)
	return errs
}

// TestParityTrained holds ONNX Runtime's output of the exported fp32 model
// to gnn.Forward's on the same windows, for a model trained for a few
// steps (so the weights, cell statistics and LayerNorm parameters are not
// their initial values).
func TestParityTrained(t *testing.T) {
	tm := tinyModel(t)
	m, w := tm.res.Model, tm.res.Weights
	fp, err := export.Build(m, w, export.GraphOptions{})
	require.NoError(t, err)
	data, err := fp.Marshal()
	require.NoError(t, err)
	B := min(tm.n, 16)
	ST := m.Sensors * m.Steps
	x, mask := tm.x[:B*ST], slicesClone(tm.mask[:B*ST])
	// Drop one sensor of window 1 entirely and a few cells of window 2 (as
	// prep marks missing data): the masked paths must agree too.
	for k := range m.Steps {
		mask[1*ST+3*m.Steps+k] = 0
	}
	for k := 10; k < 20; k++ {
		mask[2*ST+0*m.Steps+k] = 0
	}
	xm := slicesClone(x)
	for i := range xm {
		xm[i] *= mask[i] // prep zero-fills missing cells
	}
	want := forward(t, m, w, xm, mask)
	got := runORT(t, data, xm, mask, B, m.Sensors, m.Steps, export.Outputs(m))
	errs := compare(t, m, got, want, fp32Tol)
	t.Logf("fp32 %d bytes, %d parameters, batch %d: max relative error %v", len(data), m.NumParams(), B, errs)
}

// TestParityEveryConfig checks parity at the default sizes (D 32, 2 GAT
// layers) for every firmware config, with freshly initialised weights and
// cell statistics of random windows.
func TestParityEveryConfig(t *testing.T) {
	ortEnv(t)
	for _, c := range []struct {
		name, rig string
		sizes     gnn.Sizes
	}{
		{"zema-testrig", "zema-testrig", gnn.Sizes{}},
		{"excavator", "excavator", gnn.Sizes{}},
		{"skab-testbed", "skab-testbed", gnn.Sizes{}},
		{"zema-testrig-no-gat", "zema-testrig", gnn.Sizes{Hidden: 16, Layers: -1, Patch: 5}},
		{"zema-testrig-every-part", "zema-testrig", gnn.Sizes{Window: 5, Readout: 6, Global: 7, View: 3, ViewHidden: 4}},
	} {
		name := c.name
		t.Run(name, func(t *testing.T) {
			cfg := loadRig(t, c.rig)
			steps := 60
			if cfg.Operation.CycleS > 0 {
				steps = int(cfg.Operation.CycleS)
			}
			m, err := gnn.New(cfg, steps, c.sizes)
			require.NoError(t, err)
			w := gnn.InitWeights(m, 5)
			rng := rand.New(rand.NewPCG(9, 9))
			const B = 3
			n := B * m.Sensors * m.Steps
			x, mask := make([]float32, n), make([]float32, n)
			for i := range x {
				if rng.Float64() < 0.95 {
					mask[i] = 1
					x[i] = float32(rng.NormFloat64())
				}
			}
			require.NoError(t, m.SetCellStats(w, x, mask))
			data, err := mustBuild(t, m, w).Marshal()
			require.NoError(t, err)
			got := runORT(t, data, x, mask, B, m.Sensors, m.Steps, export.Outputs(m))
			errs := compare(t, m, got, forward(t, m, w, x, mask), fp32Tol)
			t.Logf("%s: S %d T %d N %d, %d parameters, %d bytes: max relative error %v",
				name, m.Sensors, m.Steps, m.Nodes, m.NumParams(), len(data), errs)
		})
	}
}

func mustBuild(tb testing.TB, m *gnn.Model, w gnn.Weights) *onnx.Model {
	tb.Helper()
	fp, err := export.Build(m, w, export.GraphOptions{})
	require.NoError(tb, err)
	return fp
}

// TestInt8 holds both int8 schemes to the fp32 model on the tiny trained
// model's windows and reports sizes and errors.
func TestInt8(t *testing.T) {
	tm := tinyModel(t)
	m, w := tm.res.Model, tm.res.Weights
	fpData, err := mustBuild(t, m, w).Marshal()
	require.NoError(t, err)
	B := tm.n
	ref := runORT(t, fpData, tm.x, tm.mask, B, m.Sensors, m.Steps, export.Outputs(m))
	for _, scheme := range []onnx.Scheme{onnx.WeightOnly, onnx.Dynamic} {
		t.Run(scheme.String(), func(t *testing.T) {
			q, rep, err := export.Quantized(m, w, scheme, export.GraphOptions{})
			require.NoError(t, err)
			require.NotEmpty(t, rep.Quantized)
			data, err := q.Marshal()
			require.NoError(t, err)
			got := runORT(t, data, tm.x, tm.mask, B, m.Sensors, m.Steps, export.Outputs(m))
			worst := map[string]float64{}
			agree := map[string]float64{}
			for _, name := range export.Outputs(m) {
				g, r := got[name], ref[name]
				require.Len(t, g, len(r))
				for i := range r {
					d := math.Abs(float64(g[i] - r[i]))
					if name == export.OutputAnomaly {
						d /= math.Max(math.Abs(float64(r[i])), 1e-3)
					}
					worst[name] = math.Max(worst[name], d)
				}
				tol := int8ProbTol
				if name == export.OutputAnomaly {
					tol = int8AnomalyTol
				}
				require.LessOrEqual(t, worst[name], tol, "%s: int8 %s differs from fp32", name, scheme)
			}
			for i, tg := range m.Targets {
				name := export.TargetOutput(tg.Name)
				same := 0
				for k := range B {
					C := tg.Classes
					if argmax(got[name][k*C:(k+1)*C]) == argmax(ref[name][k*C:(k+1)*C]) {
						same++
					}
				}
				agree[name] = float64(same) / float64(B)
				_ = i
			}
			t.Logf("%s: %d bytes (fp32 %d, %.1fx smaller), %d tensors int8; max error vs fp32 %v; class agreement %v",
				scheme, len(data), len(fpData), float64(len(fpData))/float64(len(data)), len(rep.Quantized), worst, agree)
		})
	}
}

func argmax(v []float32) int {
	best := 0
	for i := range v {
		if v[i] > v[best] {
			best = i
		}
	}
	return best
}

func slicesClone(v []float32) []float32 { return append([]float32(nil), v...) }

// checkerPython is the interpreter whose onnx package (Debian's
// python3-onnx) validates the exported models.
const checkerPython = "/usr/bin/python3"

const checkerScript = `
import sys, onnx
print("onnx", onnx.__version__)
for p in sys.argv[1:]:
    try:
        onnx.checker.check_model(p, full_check=True)
    except Exception as e:
        print("FAIL", p, str(e).replace("\n", " "))
`

// TestONNXChecker runs ONNX's own checker with full_check (strict shape
// inference) over the exported fp32 and int8 models, when /usr/bin/python3
// can import onnx; it skips otherwise (apt-get install python3-onnx).
func TestONNXChecker(t *testing.T) {
	if err := exec.Command(checkerPython, "-c", "import onnx").Run(); err != nil {
		t.Skipf("%s cannot import onnx (%v): apt-get install python3-onnx to run the ONNX checker", checkerPython, err)
	}
	dir := t.TempDir()
	var paths []string
	write := func(name string, m *onnx.Model) {
		data, err := m.Marshal()
		require.NoError(t, err)
		p := filepath.Join(dir, name+".onnx")
		require.NoError(t, os.WriteFile(p, data, 0o644))
		paths = append(paths, p)
	}
	tm := tinyModel(t)
	write("tiny_fp32", mustBuild(t, tm.res.Model, tm.res.Weights))
	for _, s := range []onnx.Scheme{onnx.WeightOnly, onnx.Dynamic} {
		q, _, err := export.Quantized(tm.res.Model, tm.res.Weights, s, export.GraphOptions{})
		require.NoError(t, err)
		write("tiny_int8_"+s.String(), q)
	}
	for _, name := range []string{"zema-testrig", "excavator", "skab-testbed"} {
		cfg := loadRig(t, name)
		m, err := gnn.New(cfg, 60, gnn.Sizes{})
		require.NoError(t, err)
		write(name+"_fp32", mustBuild(t, m, gnn.InitWeights(m, 1)))
	}
	out, err := exec.Command(checkerPython, append([]string{"-c", checkerScript}, paths...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("%s checked %d models", lines[0], len(paths))
	for _, l := range lines[1:] {
		t.Error(l)
	}
}

// TestWriteBundle writes a bundle and checks its manifest: files and
// digests, the rig binding (another rig's config is refused with
// bundle.ErrMismatch, as agent/infer.Open does), heads, thresholds,
// metrics and provenance.
func TestWriteBundle(t *testing.T) {
	tm := tinyModel(t)
	dir := filepath.Join(t.TempDir(), "bundle")
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	wr, err := export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{
		Provenance: bundle.Provenance{Dataset: "uci:synthetic", CodeVersion: "test", Seed: 3, StartedAt: start},
		Now:        func() time.Time { return start.Add(time.Minute) },
	})
	require.NoError(t, err)
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	require.Equal(t, wr.Manifest.Digest(), man.Digest())
	require.NoError(t, man.CheckRig(tm.cfg))
	err = man.CheckRig(loadRig(t, "excavator"))
	require.ErrorIs(t, err, bundle.ErrMismatch)
	require.Contains(t, err.Error(), `rig type "zema-testrig", the rig is "excavator"`)

	require.Equal(t, "zema-testrig", man.Name)
	require.Equal(t, export.DefaultVersion, man.Version)
	require.Len(t, man.Models, 2)
	require.Equal(t, bundle.FP32, man.Models[0].Precision)
	require.Equal(t, bundle.QuantWeightQDQ, man.Models[1].Quantization)
	require.Equal(t, []string{"x", "mask"}, man.Models[0].Inputs)
	require.Equal(t, export.Outputs(tm.res.Model), man.Models[1].Outputs)
	require.Less(t, man.Models[1].Bytes, man.Models[0].Bytes, "int8 file is smaller")
	require.Len(t, man.Heads, 2+len(tm.cfg.Targets))
	require.Equal(t, bundle.HeadHealth, man.Heads[0].Kind)
	cooler := man.Heads[1]
	require.Equal(t, "cooler", cooler.Target)
	require.Equal(t, "target_cooler", cooler.Output)
	require.Equal(t, []float64{3, 20, 100}, cooler.Values)
	an := man.Heads[len(man.Heads)-1]
	require.Equal(t, bundle.HeadAnomaly, an.Kind)
	require.Len(t, an.Thresholds, len(tm.res.Spec.Sensors))
	for i, th := range an.Thresholds {
		require.InDelta(t, math.Max(tm.res.AnomalyThreshold[i], export.MinThreshold), th, 1e-12)
	}
	require.Equal(t, tm.res.Spec, man.Input)
	require.Contains(t, man.Metrics, "cooler.accuracy")
	require.Equal(t, start, man.Provenance.StartedAt)
	require.Equal(t, "go", man.Provenance.Backend)
	require.EqualValues(t, 8, man.Provenance.Config["hidden"])
	require.Equal(t, start.Add(time.Minute), man.CreatedAt)

	// The ONNX metadata carries the rig binding too.
	data, err := os.ReadFile(filepath.Join(dir, export.FileFP32))
	require.NoError(t, err)
	dec, err := onnx.Unmarshal(data)
	require.NoError(t, err)
	require.Equal(t, tm.cfg.Digest(), dec.Metadata["hydrognn.config_digest"])

	// Rewriting with NoInt8 removes the int8 file.
	_, err = export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{NoInt8: true})
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(dir, export.FileINT8))
	require.True(t, errors.Is(err, os.ErrNotExist))
	man, err = bundle.Load(dir)
	require.NoError(t, err)
	require.Len(t, man.Models, 1)

	// Anomaly only: one head, the graph unchanged.
	_, err = export.WriteBundle(dir, tm.cfg, tm.res, export.BundleOptions{AnomalyOnly: true})
	require.NoError(t, err)
	man, err = bundle.Load(dir)
	require.NoError(t, err)
	require.Len(t, man.Heads, 1)
	require.Equal(t, bundle.HeadAnomaly, man.Heads[0].Kind)
	require.Equal(t, export.Outputs(tm.res.Model), man.Models[0].Outputs)

	// A result for another rig is refused.
	_, err = export.WriteBundle(t.TempDir(), loadRig(t, "excavator"), tm.res, export.BundleOptions{})
	require.ErrorIs(t, err, export.ErrExport)
}

func TestBuildErrors(t *testing.T) {
	tm := tinyModel(t)
	m, w := tm.res.Model, tm.res.Weights
	_, err := export.Build(m, w[:len(w)-1], export.GraphOptions{})
	require.ErrorIs(t, err, export.ErrExport)
	require.ErrorContains(t, err, "weight tensors")
	bad := w.Clone()
	bad[3].Data[0] = float32(math.NaN())
	_, err = export.Build(m, bad, export.GraphOptions{})
	require.ErrorIs(t, err, export.ErrExport)
	require.ErrorContains(t, err, "NaN")
	_, err = export.Build(nil, w, export.GraphOptions{})
	require.ErrorIs(t, err, export.ErrExport)
}

// TestBuildReadsEveryWeight: the exporter reads every weight of the
// default model of each config.
func TestBuildReadsEveryWeight(t *testing.T) {
	for _, name := range []string{"zema-testrig", "excavator", "skab-testbed"} {
		cfg := loadRig(t, name)
		m, err := gnn.New(cfg, 60, gnn.Sizes{})
		require.NoError(t, err)
		_, err = export.Build(m, gnn.InitWeights(m, 1), export.GraphOptions{})
		require.NoError(t, err, name)
	}
}

// TestBuildEveryPart: every optional part of models/gnn (window view,
// node readout, rig-level view, the targets' own views, no GAT layers) exports, and Build reads
// every weight (it refuses a model with a weight it does not use, so a
// new part of models/gnn fails here until graph.go writes it).
func TestBuildEveryPart(t *testing.T) {
	for _, sizes := range []gnn.Sizes{
		{Window: 3, Readout: 5, Global: 6, View: 2, ViewHidden: 5},
		{Window: -1, Readout: -1, Layers: -1},
	} {
		m, err := gnn.New(loadRig(t, "zema-testrig"), 60, sizes)
		require.NoError(t, err)
		_, err = export.Build(m, gnn.InitWeights(m, 1), export.GraphOptions{})
		require.NoError(t, err, "%+v", sizes)
	}
}
