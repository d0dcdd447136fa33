package infer

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/onnx"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The stand-in model: a graph with the exported GNN's interface (inputs x
// and mask [B, S, T], heads health [B, N], one softmax [B, C] per target,
// anomaly [B, S], rul [B, 3]) whose outputs are simple enough to compute
// here in float64:
//
//	m[s]       = mean over t of x[s, t]
//	health[n]  = sigmoid(Σ_s m[s]·A[s, n])       A averages component n's input sensors
//	class_t    = softmax(Σ_s m[s]·W_t[s, c] + b_t[c])
//	anomaly[s] = mean over t of x[s, t]²·mask[s, t]
//	rul[k]     = Σ_s m[s]·R[s, k] + r0[k]
//
// The agent module may import models/onnx only in tests (see
// TestAgentDoesNotLinkModels).

const (
	zemaConfig = "../../firmware-configs/zema-testrig.yaml"
	skabConfig = "../../firmware-configs/skab-testbed.yaml"
	gridHz     = 1
	steps      = 60
)

// standIn holds a stand-in model's parameters.
type standIn struct {
	cfg  *rig.Config
	spec prep.Spec
	S, N int
	A    [][]float64            // [S][N]
	W    map[string][][]float64 // target -> [S][C]
	b    map[string][]float64   // target -> [C]
	R    [][]float64            // [S][3]
	r0   []float64
	thr  []float64 // anomaly thresholds per sensor
}

// variant changes the stand-in graph to test refusals.
type variant struct {
	gru        bool              // add a GRU encoder (realistic latency; values change slightly)
	rename     map[string]string // graph output renames
	steps      int               // graph's T (0: the spec's)
	noMask     bool              // graph without the mask input
	fixedBatch bool              // batch dimension fixed to 1
}

func loadRig(tb testing.TB, path string) *rig.Config {
	tb.Helper()
	cfg, err := rig.Load(path)
	require.NoError(tb, err)
	return cfg
}

func newStandIn(tb testing.TB, cfg *rig.Config) *standIn {
	tb.Helper()
	spec, err := prep.SpecFromConfig(cfg, gridHz, steps)
	require.NoError(tb, err)
	si := &standIn{cfg: cfg, spec: spec, S: len(spec.Sensors), N: len(cfg.Components),
		W: map[string][][]float64{}, b: map[string][]float64{}}
	si.A = matrix(si.S, si.N)
	for n, c := range cfg.Components {
		var idx []int
		for s, ss := range spec.Sensors {
			if cfg.Sensor(ss.ID).Component == c.ID {
				idx = append(idx, s)
			}
		}
		for _, s := range idx {
			si.A[s][n] = 1 / float64(len(idx))
		}
	}
	for _, t := range cfg.Targets {
		C := len(t.Classes)
		w := matrix(si.S, C)
		for s, ss := range spec.Sensors {
			on := t.Component == "" || cfg.Sensor(ss.ID).Component == t.Component
			for c := range C {
				if on {
					w[s][c] = 0.5 * (float64(c) - float64(C-1)/2)
				}
			}
		}
		b := make([]float64, C)
		for c := range b {
			b[c] = 0.1 * float64(c)
		}
		si.W[t.Name], si.b[t.Name] = w, b
	}
	si.R = matrix(si.S, 3)
	for s := range si.S {
		for k := range 3 {
			si.R[s][k] = 0.01 * float64(k+1) * float64(s%4)
		}
	}
	si.r0 = []float64{100, 200, 300}
	si.thr = make([]float64, si.S)
	for s := range si.thr {
		si.thr[s] = 0.5 + 0.25*float64(s%3)
	}
	return si
}

func matrix(r, c int) [][]float64 {
	m := make([][]float64, r)
	for i := range m {
		m[i] = make([]float64, c)
	}
	return m
}

func flat(m [][]float64) ([]float32, int64, int64) {
	var out []float32
	for _, row := range m {
		for _, v := range row {
			out = append(out, float32(v))
		}
	}
	return out, int64(len(m)), int64(len(m[0]))
}

func f32(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

func outName(v variant, name string) string {
	if r, ok := v.rename[name]; ok {
		return r
	}
	return name
}

// model builds the stand-in graph.
func (si *standIn) model(tb testing.TB, v variant) *onnx.Model {
	tb.Helper()
	T := si.spec.Steps
	if v.steps > 0 {
		T = v.steps
	}
	batch := onnx.Dim("batch")
	if v.fixedBatch {
		batch = onnx.Dim(1)
	}
	g := onnx.NewGraph("standin")
	x := g.Input(InputX, onnx.Float32, batch, onnx.Dim(si.S), onnx.Dim(T))
	var mask onnx.Value
	if !v.noMask {
		mask = g.Input(InputMask, onnx.Float32, batch, onnx.Dim(si.S), onnx.Dim(T))
	}
	mean := g.ReduceMean(x, []int64{2}, false) // [B, S]
	feat := mean
	if v.gru {
		const H = 32
		seq := g.Transpose(g.Reshape(x, g.Int64s(-1, int64(T), 1)), []int64{1, 0, 2}) // [T, B*S, 1]
		gate := func(seed int) onnx.GRUGate {
			in, rec := make([]float32, H), make([]float32, H*H)
			for i := range in {
				in[i] = float32(math.Sin(float64(i+seed))) * 0.3
			}
			for i := range rec {
				rec[i] = float32(math.Cos(float64(i*7+seed))) * 0.05
			}
			return onnx.GRUGate{Input: in, Recurrent: rec, InputBias: make([]float32, H), RecurrentBias: make([]float32, H)}
		}
		w, r, b, err := onnx.PackGRU(onnx.GRUParams{InputSize: 1, HiddenSize: H, Update: gate(1), Reset: gate(2), Hidden: gate(3)})
		require.NoError(tb, err)
		_, yH := g.GRU(seq, g.Const("gru_W", w), g.Const("gru_R", r), g.Const("gru_B", b),
			onnx.GRUConfig{HiddenSize: H, LinearBeforeReset: true})
		enc := g.Reshape(yH, g.Int64s(-1, int64(si.S), H)) // [B, S, H]
		pooled := g.ReduceMean(enc, []int64{2}, false)     // [B, S]
		feat = g.Add(mean, g.Mul(pooled, g.Scalar(1e-3)))  // keeps the GRU live
	}
	A, r, c := flat(si.A)
	g.Output(outName(v, "health"), g.Sigmoid(g.MatMul(feat, g.Const("A", onnx.NewTensor(A, r, c)))), batch, onnx.Dim(si.N))
	for _, t := range si.cfg.Targets {
		W, r, c := flat(si.W[t.Name])
		logits := g.Add(g.MatMul(feat, g.Const("W_"+t.Name, onnx.NewTensor(W, r, c))),
			g.Const("b_"+t.Name, onnx.NewTensor(f32(si.b[t.Name]), c)))
		g.Output(outName(v, "class_"+t.Name), g.Softmax(logits, 1), batch, onnx.Dim(c))
	}
	sq := g.Mul(x, x)
	if !v.noMask {
		sq = g.Mul(sq, mask)
	}
	g.Output(outName(v, "anomaly"), g.ReduceMean(sq, []int64{2}, false), batch, onnx.Dim(si.S))
	R, r, c := flat(si.R)
	g.Output(outName(v, "rul"), g.Add(g.MatMul(feat, g.Const("R", onnx.NewTensor(R, r, c))),
		g.Const("r0", onnx.NewTensor(f32(si.r0), 3))), batch, onnx.Dim(3))
	return &onnx.Model{Graph: g, Producer: "hydrognn-agent-test"}
}

// files of a test bundle.
const (
	fp32File = "model.fp32.onnx"
	int8File = "model.int8.onnx"
)

// bundleOpts selects what writeBundle writes.
type bundleOpts struct {
	variant
	int8   bundle.Quantization // "" : weight-qdq; bundle.QuantNone: no int8 model
	noRUL  bool
	mutate func(*bundle.Manifest)
}

// writeBundle writes a stand-in bundle for si into a new temporary
// directory and returns the directory.
func (si *standIn) writeBundle(tb testing.TB, o bundleOpts) string {
	tb.Helper()
	dir := tb.TempDir()
	m := si.model(tb, o.variant)
	data, err := m.Marshal()
	require.NoError(tb, err)
	require.NoError(tb, os.WriteFile(filepath.Join(dir, fp32File), data, 0o644))

	outs := []string{"health"}
	heads := []bundle.Head{{Kind: bundle.HeadHealth, Output: "health", Labels: si.components()}}
	for _, t := range si.cfg.Targets {
		h := bundle.Head{Kind: bundle.HeadClass, Output: "class_" + t.Name, Target: t.Name}
		for _, c := range t.Classes {
			h.Labels, h.Values = append(h.Labels, c.Label), append(h.Values, c.Value)
		}
		heads = append(heads, h)
		outs = append(outs, h.Output)
	}
	ids := make([]string, si.S)
	for s, ss := range si.spec.Sensors {
		ids[s] = ss.ID
	}
	heads = append(heads, bundle.Head{Kind: bundle.HeadAnomaly, Output: "anomaly", Labels: ids, Thresholds: si.thr})
	outs = append(outs, "anomaly")
	if !o.noRUL {
		heads = append(heads, bundle.Head{Kind: bundle.HeadRUL, Output: "rul", Labels: []string{"pump_mp1"}})
		outs = append(outs, "rul")
	} else {
		// The graph still has rul; the manifest does not use it.
		outs = append(outs, "rul")
	}
	inputs := []string{InputX, InputMask}
	if o.noMask {
		inputs = inputs[:1]
	}
	man := &bundle.Manifest{
		FormatVersion: bundle.FormatVersion, Name: "standin", Version: "0.1.0",
		RigType: si.cfg.RigType, ConfigDigest: si.cfg.Digest(), TopologyVersion: si.cfg.TopologyVersion,
		CreatedAt: time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC),
		Input:     si.spec, Components: si.components(),
		Models: []bundle.Model{{File: fp32File, Precision: bundle.FP32, Quantization: bundle.QuantNone, Opset: 17,
			Inputs: inputs, Outputs: outs}},
		Heads:      heads,
		Provenance: bundle.Provenance{Dataset: "stand-in", CodeVersion: "test"},
	}
	if o.int8 != bundle.QuantNone {
		scheme, q := onnx.WeightOnly, bundle.QuantWeightQDQ
		if o.int8 == bundle.QuantDynamic {
			scheme, q = onnx.Dynamic, bundle.QuantDynamic
		}
		qm, _, err := onnx.Quantize(m, onnx.QuantOptions{Scheme: scheme, MinElements: 16, PerChannel: true})
		require.NoError(tb, err)
		qdata, err := qm.Marshal()
		require.NoError(tb, err)
		require.NoError(tb, os.WriteFile(filepath.Join(dir, int8File), qdata, 0o644))
		man.Models = append(man.Models, bundle.Model{File: int8File, Precision: bundle.INT8, Quantization: q, Opset: 17,
			Inputs: inputs, Outputs: outs})
	}
	for i := range man.Models {
		require.NoError(tb, bundle.FillModel(dir, &man.Models[i]))
	}
	if o.mutate != nil {
		o.mutate(man)
	}
	require.NoError(tb, bundle.Write(dir, man))
	return dir
}

func (si *standIn) components() []string {
	out := make([]string, si.N)
	for i, c := range si.cfg.Components {
		out[i] = c.ID
	}
	return out
}

// window prepares a deterministic window with prep; sensors in missing get
// no data at all, sensors in stale lose their first 10 cells.
func (si *standIn) window(tb testing.TB, seed int, missing, stale []string) *prep.Window {
	tb.Helper()
	grid := make([][]float64, si.S)
	for s, ss := range si.spec.Sensors {
		grid[s] = make([]float64, si.spec.Steps)
		for t := range grid[s] {
			grid[s][t] = math.Sin(float64(s*3+t)/7+float64(seed)) * float64(1+(s+seed)%3)
			if contains(missing, ss.ID) || (contains(stale, ss.ID) && t < 10) {
				grid[s][t] = math.NaN()
			}
		}
	}
	w, err := prep.FromGrid(si.spec, grid)
	require.NoError(tb, err)
	w.Start = time.Date(2026, 11, 27, 12, 0, seed, 0, time.UTC)
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expected computes the stand-in's outputs for w in float64.
type expectedOut struct {
	health  []float64
	classes map[string][]float64
	anomaly []float64
	rul     []float64
}

func (si *standIn) expected(w *prep.Window) expectedOut {
	T := si.spec.Steps
	mean := make([]float64, si.S)
	e := expectedOut{classes: map[string][]float64{}, anomaly: make([]float64, si.S), health: make([]float64, si.N)}
	for s := range si.S {
		for t := range T {
			x := float64(w.Values[s*T+t])
			mean[s] += x / float64(T)
			e.anomaly[s] += x * x * float64(w.Mask[s*T+t]) / float64(T)
		}
	}
	for n := range si.N {
		z := 0.0
		for s := range si.S {
			z += mean[s] * si.A[s][n]
		}
		e.health[n] = 1 / (1 + math.Exp(-z))
	}
	for _, t := range si.cfg.Targets {
		C := len(t.Classes)
		logits := make([]float64, C)
		mx := math.Inf(-1)
		for c := range C {
			logits[c] = si.b[t.Name][c]
			for s := range si.S {
				logits[c] += mean[s] * si.W[t.Name][s][c]
			}
			mx = max(mx, logits[c])
		}
		sum := 0.0
		for c := range logits {
			logits[c] = math.Exp(logits[c] - mx)
			sum += logits[c]
		}
		for c := range logits {
			logits[c] /= sum
		}
		e.classes[t.Name] = logits
	}
	e.rul = make([]float64, 3)
	for k := range 3 {
		e.rul[k] = si.r0[k]
		for s := range si.S {
			e.rul[k] += mean[s] * si.R[s][k]
		}
	}
	return e
}
