package rigctl

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/models/export"
	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/models/train"
	"github.com/hydrognn/hydrognn/models/train/traintest"
	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

const (
	zemaRig      = "../../../firmware-configs/zema-testrig.yaml"
	excavatorRig = "../../../firmware-configs/excavator.yaml"
	// tinySizes keeps the test models small and fast.
	tinySizes = `{"hidden":8,"heads":2,"layers":1,"head_hidden":8}`
)

// writeUCI writes a small labelled UCI-layout folder for the rig config at
// path (traintest.WriteUCI: one random condition per run, learnable in a
// few epochs) and returns it.
func writeUCI(t testing.TB, path string, runs, runLen int, seed uint64) string {
	t.Helper()
	cfg, err := rig.Load(path)
	require.NoError(t, err)
	dir := t.TempDir()
	require.NoError(t, traintest.WriteUCI(dir, cfg, runs, runLen, seed))
	return dir
}

// needORT skips a test that opens bundles in ONNX Runtime when
// $ONNXRUNTIME_LIB is unset (fails it under HYDROGNN_REQUIRE_SERVICES=1:
// shared/testenv).
func needORT(t *testing.T) {
	t.Helper()
	testenv.Env(t, "ONNXRUNTIME_LIB", testenv.ONNXRuntime)
}

// trainTiny runs `rigctl train` (the binary: runBin) with a tiny model for
// 2 epochs and returns the bundle folder and the command's outputs.
func trainTiny(t *testing.T, rigPath, data string, extra ...string) (dir, stdout, stderr string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "bundle")
	args := append([]string{"train", "--rig", rigPath, "--data", data, "--out", dir,
		"--epochs", "2", "--batch", "8", "--seed", "3", "--sizes", tinySizes}, extra...)
	code, stdout, stderr := runBin(t, args...)
	require.Equal(t, ExitOK, code, "stderr: %s", stderr)
	return dir, stdout, stderr
}

func TestTrainWritesBundle(t *testing.T) {
	data := writeUCI(t, zemaRig, 12, 5, 1)
	dir, out, errOut := trainTiny(t, zemaRig, "uci:"+data)
	assert.Contains(t, errOut, "epoch 1/2")
	assert.Contains(t, errOut, "ETA")
	assert.Contains(t, out, "wrote "+dir)
	assert.Contains(t, out, "model.int8.onnx")
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, "zema-testrig", man.RigType)
	assert.Equal(t, "uci:"+data, man.Provenance.Dataset)
	assert.True(t, strings.HasPrefix(man.Provenance.DatasetDigest, "sha256:"))
	assert.Equal(t, "test", man.Provenance.CodeVersion)
	assert.Equal(t, "go", man.Provenance.Backend)
	assert.EqualValues(t, 3, man.Provenance.Seed)
	assert.EqualValues(t, 8, man.Provenance.Config["hidden"])
	assert.EqualValues(t, 2, man.Provenance.Config["epochs"])
	assert.Len(t, man.Models, 2)
	assert.Contains(t, man.Metrics, "valve.accuracy")
	// The training report, beside the bundle by default.
	assert.Contains(t, out, "training report: ")
	for _, f := range []string{"report.md", "loss.png", "accuracy.png"} {
		assert.FileExists(t, filepath.Join(dir, "report", f))
	}
	md, err := os.ReadFile(filepath.Join(dir, "report", "report.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "valve (rows: true, columns: predicted)")

	// inspect
	code, out, errOut := run(t, "model", "inspect", "--bundle", dir)
	require.Equal(t, ExitOK, code, errOut)
	for _, s := range []string{"zema-testrig 1.0.0", "17 sensors x 60 steps", "model.fp32.onnx: fp32 (none)",
		"model.int8.onnx: int8 (weight-qdq)", "target_cooler -> cooler", "anomaly", "seed 3"} {
		assert.Contains(t, out, s)
	}
	code, out, _ = run(t, "model", "inspect", "--json", "--bundle", dir)
	require.Equal(t, ExitOK, code)
	var m bundle.Manifest
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	assert.Equal(t, man.Digest(), m.Digest())
}

func TestTrainSimAndInt8Choices(t *testing.T) {
	data := writeUCI(t, excavatorRig, 8, 5, 2)
	dir, _, _ := trainTiny(t, excavatorRig, "sim:"+data, "--int8", "dynamic", "--name", "exc", "--version", "0.2.0",
		"--dataset-label", "rigsim dataset --random")
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	assert.Equal(t, "exc", man.Name)
	assert.Equal(t, "0.2.0", man.Version)
	assert.Equal(t, bundle.QuantDynamic, man.Models[1].Quantization)
	assert.Equal(t, "rigsim dataset --random", man.Provenance.Dataset)

	dir, _, _ = trainTiny(t, excavatorRig, "sim:"+data, "--int8", "none")
	man, err = bundle.Load(dir)
	require.NoError(t, err)
	assert.Len(t, man.Models, 1)
	assert.Equal(t, "sim:"+data, man.Provenance.Dataset)
}

func TestTrainErrors(t *testing.T) {
	data := writeUCI(t, zemaRig, 4, 3, 1)
	out := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"train", "--data", "uci:" + data, "--out", out}, ExitUsage, "--rig FILE, --data KIND:DIR and --out DIR are required"},
		{[]string{"train", "--rig", zemaRig, "--data", "csv:" + data, "--out", out}, ExitUsage, `unknown kind "csv"`},
		{[]string{"train", "--rig", zemaRig, "--data", "uci:" + data, "--out", out, "--sizes", `{"hiden":8}`}, ExitUsage, `unknown field "hiden"`},
		{[]string{"train", "--rig", zemaRig, "--data", "uci:" + data, "--out", out, "--int8", "int4"}, ExitUsage, `--int8 "int4"`},
		{[]string{"train", "--rig", zemaRig, "--data", "skab:" + data, "--out", out}, ExitFailure, "no *.csv file"},
		{[]string{"train", "--rig", zemaRig, "--data", "uci:" + t.TempDir(), "--out", out}, ExitFailure, ""},
		{[]string{"train", "--rig", excavatorRig, "--data", "uci:" + data, "--out", out}, ExitFailure, "P_PUMP.txt"},
		{[]string{"train", "--rig", zemaRig, "--data", "uci:" + data, "--out", out, "--backend", "tpu"}, ExitUsage, `--backend "tpu"`},
		{[]string{"train", "--rig", "nope.yaml", "--data", "uci:" + data, "--out", out}, ExitFailure, "nope.yaml"},
	} {
		code, _, errOut := run(t, c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.msg, "%v", c.args)
	}
}

// TestModelEval trains a bundle and evaluates it through agent/infer on a
// held-out folder, in JSON and as a table, for both precisions; a bundle
// evaluated against another rig's config is refused by infer.Open.
func TestModelEval(t *testing.T) {
	needORT(t)
	dir, _, _ := trainTiny(t, zemaRig, "uci:"+writeUCI(t, zemaRig, 12, 5, 1))
	test := writeUCI(t, zemaRig, 6, 4, 9)
	for _, p := range []string{"", "fp32", "int8"} {
		args := []string{"model", "eval", "--bundle", dir, "--dataset", "uci:" + test, "--json", "--rig", zemaRig}
		if p != "" {
			args = append(args, "--precision", p)
		}
		code, out, errOut := runBin(t, args...)
		require.Equal(t, ExitOK, code, errOut)
		var res struct {
			N         int    `json:"n"`
			Precision string `json:"precision"`
			Targets   map[string]struct {
				Accuracy float64 `json:"accuracy"`
				MacroF1  float64 `json:"macro_f1"`
			} `json:"targets"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &res), out)
		assert.Equal(t, 24, res.N)
		assert.Contains(t, errOut, "model eval: 24/24 cycles in ", "progress on stderr, not in the JSON")
		want := p
		if p == "" {
			want = "int8"
		}
		assert.Equal(t, want, res.Precision)
		require.Len(t, res.Targets, 5)
		for _, name := range []string{"cooler", "valve", "pump", "accumulator", "stable"} {
			tm, ok := res.Targets[name]
			require.True(t, ok, name)
			assert.True(t, tm.Accuracy >= 0 && tm.Accuracy <= 1 && tm.MacroF1 >= 0 && tm.MacroF1 <= 1, "%s: %+v", name, tm)
		}
	}
	code, out, errOut := runBin(t, "model", "eval", "--bundle", dir, "--dataset", "uci:"+test, "--rig", zemaRig)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "24 cycles of uci:"+test+", int8 model through ONNX Runtime")
	assert.Contains(t, out, "accumulator")

	// The rig config found from the bundle's rig type (firmware-configs/
	// zema-testrig.yaml above the working directory).
	code, _, errOut = runBin(t, "model", "eval", "--bundle", dir, "--dataset", "uci:"+test, "--json")
	require.Equal(t, ExitOK, code, errOut)

	// Another rig's config: refused by agent/infer.Open with the reason.
	code, _, errOut = runBin(t, "model", "eval", "--bundle", dir, "--dataset", "uci:"+test, "--rig", excavatorRig)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, errOut, "bundle does not match the rig")
	assert.Contains(t, errOut, `rig type "zema-testrig", the rig is "excavator"`)
}

func TestModelErrors(t *testing.T) {
	needORT(t)
	dir, _, _ := trainTiny(t, zemaRig, "uci:"+writeUCI(t, zemaRig, 12, 5, 1), "--int8", "none")
	test := writeUCI(t, zemaRig, 2, 2, 9)
	exc := writeUCI(t, excavatorRig, 2, 2, 9)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"model"}, ExitUsage, "usage: rigctl model eval"},
		{[]string{"model", "train"}, ExitUsage, `unknown subcommand "train"`},
		{[]string{"model", "eval", "--bundle", dir}, ExitUsage, "--dataset uci:DIR are required"},
		{[]string{"model", "eval", "--bundle", dir, "--dataset", "uci:" + test, "--precision", "fp16"}, ExitUsage, `--precision "fp16"`},
		{[]string{"model", "eval", "--bundle", dir, "--dataset", "uci:" + test, "--precision", "int8"}, ExitFailure, "has no int8 model (it has: fp32)"},
		{[]string{"model", "eval", "--bundle", t.TempDir(), "--dataset", "uci:" + test}, ExitFailure, "manifest.json"},
		{[]string{"model", "eval", "--bundle", dir, "--dataset", "skab:" + test}, ExitFailure, "rigctl bench skab"},
		{[]string{"model", "eval", "--bundle", dir, "--dataset", "uci:" + exc}, ExitFailure, "uci"},
		{[]string{"model", "inspect"}, ExitUsage, "--bundle DIR is required"},
	} {
		code, _, errOut := runBin(t, c.args...)
		assert.Equal(t, c.code, code, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.msg, "%v", c.args)
	}
}

func TestBenchUCI(t *testing.T) {
	needORT(t)
	trainDir := writeUCI(t, zemaRig, 12, 5, 1)
	testDir := writeUCI(t, zemaRig, 5, 4, 8)
	keep := filepath.Join(t.TempDir(), "kept")
	code, out, errOut := runBin(t, "bench", "uci", "--train", trainDir, "--test", testDir, "--json", "--rig", zemaRig,
		"--epochs", "1", "--batch", "8", "--sizes", tinySizes, "--out", keep)
	require.Equal(t, ExitOK, code, errOut)
	var res map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	for _, k := range []string{"n", "targets", "train_seconds", "total_seconds", "precision"} {
		assert.Contains(t, res, k)
	}
	assert.JSONEq(t, "20", string(res["n"]))
	var ts float64
	require.NoError(t, json.Unmarshal(res["train_seconds"], &ts))
	assert.Greater(t, ts, 0.0)
	_, err := bundle.Load(keep)
	require.NoError(t, err)

	reportDir := filepath.Join(t.TempDir(), "report")
	code, out, errOut = runBin(t, "bench", "uci", "--train", trainDir, "--test", testDir, "--rig", zemaRig,
		"--epochs", "1", "--batch", "8", "--sizes", tinySizes, "--precision", "fp32", "--report", reportDir)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "fp32 model through ONNX Runtime")
	md, err := os.ReadFile(filepath.Join(reportDir, "report.md"))
	require.NoError(t, err, "bench uci --report writes the report")
	assert.Contains(t, string(md), "## Test folder "+testDir+" (fp32 model through ONNX Runtime): 20 windows")
	assert.Contains(t, out, "end to end")

	code, _, errOut = runBin(t, "bench", "uci", "--train", trainDir)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--test DIR are required")
}

func TestBenchInfer(t *testing.T) {
	needORT(t)
	data := writeUCI(t, zemaRig, 12, 5, 1)
	dir, _, _ := trainTiny(t, zemaRig, "uci:"+data)
	code, out, errOut := runBin(t, "bench", "infer", "--bundle", dir, "--json", "--n", "200")
	require.Equal(t, ExitOK, code, errOut)
	var res map[string]latencyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res, 2)
	for _, p := range []string{"fp32", "int8"} {
		l := res[p]
		assert.Equal(t, 1, l.Batch, p)
		assert.Equal(t, 1, l.Threads, p)
		assert.Equal(t, 200, l.N, p)
		assert.Greater(t, l.P50us, 0.0, p)
		assert.GreaterOrEqual(t, l.P99us, l.P50us, p)
	}
	assert.Less(t, res["int8"].Bytes, res["fp32"].Bytes)

	code, out, errOut = runBin(t, "bench", "infer", "--bundle", dir, "--n", "50", "--dataset", "uci:"+data, "--rig", zemaRig)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "60 windows, 50 calls each")
	assert.Contains(t, out, "weight-qdq")

	code, _, errOut = runBin(t, "bench", "infer")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--bundle DIR is required")
	code, _, errOut = runBin(t, "bench", "frob")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, `unknown subcommand "frob"`)
	code, _, errOut = runBin(t, "bench")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "infer")
}

// TestBenchInferCold: --cold times each call after the cache-evicting
// work and says so in the JSON; without it the JSON has no cold keys (as
// before the flag).
func TestBenchInferCold(t *testing.T) {
	needORT(t)
	dir := "../../../models/bundles/zema-testrig"
	code, out, errOut := run(t, "bench", "infer", "--bundle", dir, "--cold", "--n", "5", "--json")
	require.Equal(t, ExitOK, code, errOut)
	var res map[string]latencyJSON
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res, 2)
	for _, p := range []string{"fp32", "int8"} {
		l := res[p]
		assert.True(t, l.Cold, p)
		assert.Equal(t, float64(coldEvictTime.Milliseconds()), l.EvictMs, p)
		assert.Equal(t, 5, l.N, p)
		assert.Greater(t, l.P50us, 0.0, p)
	}
	code, out, errOut = run(t, "bench", "infer", "--bundle", dir, "--n", "5", "--json")
	require.Equal(t, ExitOK, code, errOut)
	assert.NotContains(t, out, `"cold"`)
	assert.NotContains(t, out, `"evict_ms"`)
	code, out, errOut = run(t, "bench", "infer", "--bundle", dir, "--cold", "--n", "3")
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, out, "3 calls each, each after 15ms of cache-evicting work")
}

// TestEvaluateMatchesTrainer holds the edge path (bundle on ONNX Runtime
// through agent/infer, windows from prep) to the trainer's own evaluation
// in GoMLX on the same cycles: the fp32 confusion matrices must be equal.
func TestEvaluateMatchesTrainer(t *testing.T) {
	needORT(t)
	cfg, err := rig.Load(zemaRig)
	require.NoError(t, err)
	ds, err := train.LoadUCI(writeUCI(t, zemaRig, 4, 5, 1), cfg, 1)
	require.NoError(t, err)
	// One epoch of 4 runs: the comparison holds for any weights, and the
	// in-process training's time (under -race too) grows with both.
	res, err := train.Run(context.Background(), train.Options{Rig: cfg, Train: ds, Seed: 2, Epochs: 1, BatchSize: 8,
		Patience: -1, LR: 1e-2, Sizes: gnn.Sizes{Hidden: 8, Heads: 2, Layers: 1, HeadHidden: 8}}, nil)
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = export.WriteBundle(dir, cfg, res, export.BundleOptions{})
	require.NoError(t, err)
	test, err := train.LoadUCI(writeUCI(t, zemaRig, 70, 4, 5), cfg, 1) // > one batch of 256
	require.NoError(t, err)
	want, err := train.Evaluate(cfg, res.Model, res.Weights, res.Spec, test, "")
	require.NoError(t, err)
	for _, p := range []bundle.Precision{bundle.FP32, bundle.INT8} {
		m, err := openModel(dir, cfg, p, 1)
		require.NoError(t, err)
		got, err := evaluate(context.Background(), m, cfg, test)
		require.NoError(t, m.Close())
		require.NoError(t, err)
		require.Equal(t, 280, got.N)
		require.Len(t, got.Targets, len(want.Targets))
		for i, tm := range got.Targets {
			w := want.Targets[i]
			if p == bundle.FP32 {
				assert.Equal(t, w.Confusion, tm.Confusion, "%s %s", p, tm.Name)
			} else {
				assert.InDelta(t, w.Accuracy, tm.Accuracy, 0.02, "%s %s", p, tm.Name)
			}
		}
	}
}

// TestShippedBundles opens every shipped bundle (models/bundles) for its
// firmware config through agent/infer and runs a few windows: a config
// change that invalidates a bundle fails here (rebuild with make models).
func TestShippedBundles(t *testing.T) {
	needORT(t)
	dirs, err := filepath.Glob("../../../models/bundles/*/manifest.json")
	require.NoError(t, err)
	require.NotEmpty(t, dirs)
	for _, mf := range dirs {
		dir := filepath.Dir(mf)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			code, out, errOut := run(t, "bench", "infer", "--bundle", dir, "--n", "20", "--json")
			require.Equal(t, ExitOK, code, "%s no longer opens for its firmware config (run make models): %s", dir, errOut)
			var res map[string]latencyJSON
			require.NoError(t, json.Unmarshal([]byte(out), &res))
			assert.Len(t, res, 2)
		})
	}
}

func TestBenchSplit(t *testing.T) {
	data := writeUCI(t, zemaRig, 10, 3, 1) // runs may merge when two draws agree
	out := t.TempDir()
	code, stdout, errOut := run(t, "bench", "split", "--data", data, "--out", out, "--every", "3", "--rig", zemaRig)
	require.Equal(t, ExitOK, code, errOut)
	assert.Contains(t, stdout, "runs:")
	cfg, err := rig.Load(zemaRig)
	require.NoError(t, err)
	all, err := train.LoadUCI(data, cfg, 1)
	require.NoError(t, err)
	tr, err := train.LoadUCI(filepath.Join(out, "train"), cfg, 1)
	require.NoError(t, err)
	te, err := train.LoadUCI(filepath.Join(out, "test"), cfg, 1)
	require.NoError(t, err)
	assert.Equal(t, all.Len(), tr.Len()+te.Len())
	assert.Positive(t, te.Len())
	// Whole runs: the test set is exactly the cycles of every third run
	// (train.RunGroups numbers the runs the same way).
	want := 0
	for _, g := range train.RunGroups(cfg, all.Labels) {
		if g%3 == 2 {
			want++
		}
	}
	assert.Equal(t, want, te.Len())
	code, _, errOut = run(t, "bench", "split", "--data", data, "--out", out, "--every", "1")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "--every must be >= 2")
}

// TestTrainSKAB trains on a synthetic SKAB-format folder: an anomaly-only
// bundle for skab-testbed whose input spec carries the anomaly-free run's
// calibration, which agent/infer opens and runs.
func TestTrainSKAB(t *testing.T) {
	data := t.TempDir()
	writeSKAB(t, filepath.Join(data, "anomaly-free", "anomaly-free.csv"), 800, 0, 0, 1)
	writeSKAB(t, filepath.Join(data, "valve1", "1.csv"), 560, 450, 520, 2)
	dir, out, errOut := trainTiny(t, skabRig, "skab:"+data, "--steps", "10")
	assert.Contains(t, errOut, "1 anomaly-free and 1 experiment files")
	assert.Contains(t, out, "wrote "+dir)
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	require.Len(t, man.Heads, 1)
	assert.Equal(t, bundle.HeadAnomaly, man.Heads[0].Kind)
	assert.Len(t, man.Heads[0].Thresholds, 8)
	assert.Equal(t, 10, man.Input.Steps)
	assert.Equal(t, prep.AlignSliding, man.Input.Alignment)
	// The calibration of the anomaly-free run: the flow's mean is about
	// 100 l/min (writeSKAB), in the composed spec's raw units.
	flow := man.Input.Sensors[man.Input.Index("VolumeFlowRateRMS")]
	assert.InDelta(t, 100, flow.Mean, 2, "%+v", flow)
	assert.Contains(t, man.Provenance.Config, "skab_detector")
	if os.Getenv("ONNXRUNTIME_LIB") == "" && !testenv.Required() {
		return // the rest needs ONNX Runtime; under HYDROGNN_REQUIRE_SERVICES=1 rigctl's error fails the test
	}
	code, _, errOut := runBin(t, "bench", "infer", "--bundle", dir, "--n", "20", "--rig", skabRig)
	require.Equal(t, ExitOK, code, errOut)
}
