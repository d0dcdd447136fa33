package export_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	ort "github.com/yalue/onnxruntime_go"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

func repoRoot(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func loadRig(tb testing.TB, name string) *rig.Config {
	tb.Helper()
	cfg, err := rig.Load(filepath.Join(repoRoot(tb), "firmware-configs", name+".yaml"))
	require.NoError(tb, err)
	return cfg
}

// synthesize writes a small UCI-layout folder for cfg (which must have
// operation.cycle_s) into dir: traintest.WriteUCI.
func synthesize(dir string, cfg *rig.Config, runs, runLen int, seed uint64) error {
	return traintest.WriteUCI(dir, cfg, runs, runLen, seed)
}

// tiny is a small model trained for a few steps on synthetic data, shared
// by the tests of this package (training once keeps them fast).
type tiny struct {
	cfg *rig.Config
	ds  *train.Dataset
	res *train.Result
	// x, mask are prepared windows [n, S, T] of ds with res.Spec.
	x, mask []float32
	n       int
}

var (
	tinyOnce sync.Once
	tinyVal  *tiny
	tinyErr  error
)

func tinyModel(tb testing.TB) *tiny {
	tb.Helper()
	tinyOnce.Do(func() {
		cfg, err := rig.Load(filepath.Join(repoRoot(tb), "firmware-configs", "zema-testrig.yaml"))
		if err != nil {
			tinyErr = err
			return
		}
		dir, err := os.MkdirTemp("", "export-tiny-")
		if err != nil {
			tinyErr = err
			return
		}
		defer os.RemoveAll(dir)
		if tinyErr = synthesize(dir, cfg, 12, 5, 7); tinyErr != nil {
			return
		}
		ds, err := train.LoadUCI(dir, cfg, 1)
		if err != nil {
			tinyErr = err
			return
		}
		res, err := train.Run(context.Background(), train.Options{
			Rig: cfg, Train: ds, Seed: 3, Epochs: 2, Patience: -1, BatchSize: 8, LR: 1e-2,
			Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 2, HeadHidden: 8},
		}, nil)
		if err != nil {
			tinyErr = err
			return
		}
		t, err := train.Tensorize(ds, res.Spec)
		if err != nil {
			tinyErr = err
			return
		}
		tinyVal = &tiny{cfg: cfg, ds: ds, res: res, x: t.X, mask: t.Mask, n: t.N}
	})
	require.NoError(tb, tinyErr)
	return tinyVal
}

// ---- ONNX Runtime ----

var (
	ortOnce sync.Once
	ortErr  error
)

// ortEnv initialises ONNX Runtime from $ONNXRUNTIME_LIB or skips.
func ortEnv(tb testing.TB) {
	tb.Helper()
	lib := testenv.Env(tb, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
	ortOnce.Do(func() {
		if ort.IsInitialized() {
			return
		}
		ort.SetSharedLibraryPath(lib)
		ortErr = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	require.NoError(tb, ortErr, "initialise ONNX Runtime from ONNXRUNTIME_LIB=%s", lib)
}

// runORT runs an encoded model on x, mask [B, S, T] with the agent's
// session settings (1 thread, all optimisations, session.disable_quant_qdq=1)
// and returns every named output, flat.
func runORT(tb testing.TB, model []byte, x, mask []float32, B, S, T int, outputs []string) map[string][]float32 {
	tb.Helper()
	ortEnv(tb)
	opts, err := ort.NewSessionOptions()
	require.NoError(tb, err)
	defer opts.Destroy()
	require.NoError(tb, opts.SetIntraOpNumThreads(1))
	require.NoError(tb, opts.SetInterOpNumThreads(1))
	require.NoError(tb, opts.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll))
	require.NoError(tb, opts.AddSessionConfigEntry("session.disable_quant_qdq", "1"))
	shape := ort.NewShape(int64(B), int64(S), int64(T))
	xt, err := ort.NewTensor(shape, x)
	require.NoError(tb, err)
	defer xt.Destroy()
	mt, err := ort.NewTensor(shape, mask)
	require.NoError(tb, err)
	defer mt.Destroy()
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{"x", "mask"}, outputs, opts)
	require.NoError(tb, err)
	defer s.Destroy()
	outs := make([]ort.Value, len(outputs))
	require.NoError(tb, s.Run([]ort.Value{xt, mt}, outs))
	res := map[string][]float32{}
	for i, o := range outs {
		res[outputs[i]] = append([]float32(nil), o.(*ort.Tensor[float32]).GetData()...)
		_ = o.Destroy()
	}
	return res
}

// maxDiff returns max |a-b| / max(1, |b|) and its index.
func maxDiff(a, b []float32) (float64, int) {
	worst, at := 0.0, -1
	for i := range b {
		d := math.Abs(float64(a[i])-float64(b[i])) / math.Max(1, math.Abs(float64(b[i])))
		if d > worst || at < 0 {
			worst, at = d, i
		}
	}
	return worst, at
}
