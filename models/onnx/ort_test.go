package onnx_test

import (
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/shared/testenv"
)

var (
	ortOnce sync.Once
	ortErr  error
)

// ortEnv initialises the process's one ONNX Runtime environment from
// $ONNXRUNTIME_LIB, or skips the test when the variable is unset. The
// environment lives until the test binary exits.
func ortEnv(tb testing.TB) {
	tb.Helper()
	lib := testenv.Env(tb, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
	ortOnce.Do(func() {
		if _, err := os.Stat(lib); err != nil {
			ortErr = err
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	require.NoError(tb, ortErr, "initialise ONNX Runtime from ONNXRUNTIME_LIB=%s", lib)
}

// feed is one named input of a model run.
type feed struct {
	name  string
	shape []int64
	data  any // []float32, []int64, []int32 or []bool
}

// result is one output of a model run, converted to float64.
type result struct {
	shape []int64
	data  []float64
}

// disableQDQ is the session config that folds DequantizeLinear of constant
// weights into fp32 at load time (for the weight-only int8 scheme).
var disableQDQ = map[string]string{"session.disable_quant_qdq": "1"}

// sessionOptions returns the agent's session settings: one intra-op and one
// inter-op thread, sequential execution, every graph optimisation, plus the
// given config entries.
func sessionOptions(tb testing.TB, config map[string]string) *ort.SessionOptions {
	tb.Helper()
	opts, err := ort.NewSessionOptions()
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = opts.Destroy() })
	require.NoError(tb, opts.SetIntraOpNumThreads(1))
	require.NoError(tb, opts.SetInterOpNumThreads(1))
	require.NoError(tb, opts.SetExecutionMode(ort.ExecutionModeSequential))
	require.NoError(tb, opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll))
	for k, v := range config {
		require.NoError(tb, opts.AddSessionConfigEntry(k, v))
	}
	return opts
}

func newValue(tb testing.TB, f feed) ort.Value {
	tb.Helper()
	shape := ort.NewShape(f.shape...)
	var v ort.Value
	var err error
	switch d := f.data.(type) {
	case []float32:
		v, err = ort.NewTensor(shape, d)
	case []int64:
		v, err = ort.NewTensor(shape, d)
	case []int32:
		v, err = ort.NewTensor(shape, d)
	case []bool:
		v, err = ort.NewTensor(shape, d)
	default:
		tb.Fatalf("feed %q: unsupported data %T", f.name, f.data)
	}
	require.NoError(tb, err, "input %q", f.name)
	return v
}

func toResult(tb testing.TB, name string, v ort.Value) result {
	tb.Helper()
	r := result{shape: v.GetShape()}
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		for _, x := range t.GetData() {
			r.data = append(r.data, float64(x))
		}
	case *ort.Tensor[int64]:
		for _, x := range t.GetData() {
			r.data = append(r.data, float64(x))
		}
	case *ort.Tensor[int32]:
		for _, x := range t.GetData() {
			r.data = append(r.data, float64(x))
		}
	case *ort.Tensor[bool]:
		for _, x := range t.GetData() {
			r.data = append(r.data, map[bool]float64{false: 0, true: 1}[x])
		}
	default:
		tb.Fatalf("output %q: unsupported value %T", name, v)
	}
	return r
}

// runModel runs an encoded model once in ONNX Runtime and returns the named
// outputs.
func runModel(tb testing.TB, model []byte, feeds []feed, outputs []string, config map[string]string) map[string]result {
	tb.Helper()
	ortEnv(tb)
	names := make([]string, len(feeds))
	ins := make([]ort.Value, len(feeds))
	for i, f := range feeds {
		names[i] = f.name
		ins[i] = newValue(tb, f)
		defer func(v ort.Value) { _ = v.Destroy() }(ins[i])
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, names, outputs, sessionOptions(tb, config))
	require.NoError(tb, err, "create session")
	defer func() { _ = s.Destroy() }()
	outs := make([]ort.Value, len(outputs))
	require.NoError(tb, s.Run(ins, outs), "run")
	res := map[string]result{}
	for i, o := range outs {
		res[outputs[i]] = toResult(tb, outputs[i], o)
		_ = o.Destroy()
	}
	return res
}

// optimizedOps returns the op types (with domain) of the graph ONNX Runtime
// runs after its optimisations, read back with Unmarshal from the file
// SetOptimizedModelFilePath writes.
func optimizedOps(tb testing.TB, model []byte, config map[string]string) map[string]int {
	tb.Helper()
	ortEnv(tb)
	path := tb.TempDir() + "/optimized.onnx"
	opts := sessionOptions(tb, config)
	require.NoError(tb, opts.SetOptimizedModelFilePath(path))
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	require.NoError(tb, err)
	inNames := make([]string, len(ins))
	for i, in := range ins {
		inNames[i] = in.Name
	}
	outNames := make([]string, len(outs))
	for i, o := range outs {
		outNames[i] = o.Name
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, inNames, outNames, opts)
	require.NoError(tb, err)
	require.NoError(tb, s.Destroy())
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	ops, err := opTypes(data)
	require.NoError(tb, err, "read ONNX Runtime's optimised model")
	return ops
}

// assertClose checks got against want element by element:
// |got - want| <= tol * max(1, |want|).
func assertClose(tb testing.TB, name string, got result, want *nd, tol float64) float64 {
	tb.Helper()
	require.Equal(tb, want.shape64(), got.shape, "%s: shape", name)
	worst, at := 0.0, -1
	for i, w := range want.data {
		d := abs(got.data[i]-w) / max(1, abs(w))
		if d > worst {
			worst, at = d, i
		}
	}
	if worst > tol {
		tb.Errorf("%s: element %d = %g, want %g (relative error %.3g > %.3g)", name, at, got.data[at], want.data[at], worst, tol)
	}
	return worst
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
