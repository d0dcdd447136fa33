package infer

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"

	"github.com/hydrognn/hydrognn/shared/syncbuf"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// initHelperEnv makes the test binary a helper process that calls Init
// with the variable's value and prints the error: Init's failures are
// final for a process, so each is tried in a fresh one.
const initHelperEnv = "HYDROGNN_INFER_INIT_HELPER"

func TestMain(m *testing.M) {
	if path, ok := os.LookupEnv(initHelperEnv); ok {
		err := Init(path)
		fmt.Printf("init: %v\n", err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// needORT skips the test when $ONNXRUNTIME_LIB is unset (fails it under
// HYDROGNN_REQUIRE_SERVICES=1: shared/testenv) and initialises ONNX
// Runtime otherwise.
func needORT(tb testing.TB) {
	tb.Helper()
	testenv.Env(tb, LibraryEnv, testenv.ONNXRuntime)
	require.NoError(tb, Init(""))
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.DiscardHandler)

func open(tb testing.TB, dir string, si *standIn, o Options) *Model {
	tb.Helper()
	if o.Logger == nil {
		o.Logger = quiet
	}
	m, err := Open(dir, si.cfg, o)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = m.Close() })
	return m
}

func TestInitErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts helper processes")
	}
	dir := t.TempDir()
	notLib := filepath.Join(dir, "libonnxruntime.so.1")
	require.NoError(t, os.WriteFile(notLib, []byte("not a shared library"), 0o644))
	cases := []struct{ name, path, want string }{
		{"unset", "", "$ONNXRUNTIME_LIB is not set"},
		{"missing", filepath.Join(dir, "nope.so"), "nope.so: no such file or directory"},
		{"directory", dir, "is a directory, want the path of libonnxruntime.so.1"},
		{"not a library", notLib, "load " + notLib},
	}
	// The arm64 build of the same release cannot be loaded on x86-64.
	if arm := filepath.Join(filepath.Dir(filepath.Dir(os.Getenv(LibraryEnv))), "linux-arm64", "libonnxruntime.so.1"); os.Getenv(LibraryEnv) != "" {
		if _, err := os.Stat(arm); err == nil && !strings.Contains(os.Getenv(LibraryEnv), "arm64") {
			cases = append(cases, struct{ name, path, want string }{"other architecture", arm, "load " + arm})
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), initHelperEnv+"="+tc.path, LibraryEnv+"=")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Contains(t, string(out), "init: infer: ONNX Runtime library: ")
			assert.Contains(t, string(out), tc.want)
		})
	}
}

func TestCheckVersion(t *testing.T) {
	require.NoError(t, checkVersion("1.30.0", "lib.so"))
	require.NoError(t, checkVersion("1.30.2", "lib.so"))
	err := checkVersion("1.22.0", "/opt/ort/lib.so")
	require.ErrorIs(t, err, ErrLibrary)
	assert.Contains(t, err.Error(), `/opt/ort/lib.so is ONNX Runtime "1.22.0", want 1.30.x`)
}

func TestInitIsIdempotent(t *testing.T) {
	needORT(t)
	require.NoError(t, Init(""))
	require.NoError(t, Init(os.Getenv(LibraryEnv)))
	assert.True(t, strings.HasPrefix(Version(), WantVersion), "version %q", Version())
	err := Init("/somewhere/else/libonnxruntime.so.1")
	require.ErrorIs(t, err, ErrLibrary)
	assert.Contains(t, err.Error(), "cannot switch to /somewhere/else/libonnxruntime.so.1")
}

func TestOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Precision: "fp16"}, `precision "fp16"`},
		{Options{IntraOpThreads: -1}, "intra-op threads: -1 is out of range"},
		{Options{InterOpThreads: 65}, "inter-op threads: 65 is out of range"},
		{Options{Providers: []Provider{"rocm"}}, `execution provider "rocm"`},
		{Options{Providers: []Provider{CUDA, CUDA}}, `"cuda" is listed twice`},
		{Options{ProviderOptions: map[Provider]map[string]string{CPU: {}}}, `provider options for "cpu"`},
		{Options{MaxBatch: -2}, "max batch -2"},
		{Options{DeviceID: -1}, "device id -1"},
	} {
		_, err := tc.o.withDefaults()
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.want)
	}
	o, err := Options{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, 1, o.IntraOpThreads)
	assert.Equal(t, 1, o.InterOpThreads)
	assert.Equal(t, DefaultMaxBatch, o.MaxBatch)
}

// assertResult compares a Result with the stand-in's float64 outputs.
func assertResult(t *testing.T, si *standIn, w *prep.Window, r *Result, tol float64) {
	t.Helper()
	e := si.expected(w)
	require.Len(t, r.Health, si.N)
	for n := range si.N {
		assert.InDelta(t, e.health[n], r.Health[n], tol, "health of %s", si.cfg.Components[n].ID)
	}
	require.Len(t, r.Targets, len(si.cfg.Targets))
	for i, tg := range si.cfg.Targets {
		tr := r.Targets[i]
		require.Equal(t, tg.Name, tr.Name)
		best := 0
		for c, cp := range tr.Classes {
			assert.Equal(t, tg.Classes[c].Value, cp.Value)
			assert.Equal(t, tg.Classes[c].Label, cp.Label)
			assert.InDelta(t, e.classes[tg.Name][c], cp.P, tol, "%s class %v", tg.Name, cp.Value)
			if e.classes[tg.Name][c] > e.classes[tg.Name][best] {
				best = c
			}
		}
		assert.Equal(t, best, tr.Predicted, "%s predicted class", tg.Name)
	}
	require.Len(t, r.Sensors, si.S)
	for s, sc := range r.Sensors {
		id := si.spec.Sensors[s].ID
		assert.Equal(t, id, sc.ID)
		if contains(w.Missing, id) {
			assert.True(t, sc.Masked, "%s is missing: masked", id)
			assert.Zero(t, sc.Score)
			assert.False(t, sc.Anomalous)
			continue
		}
		assert.False(t, sc.Masked, id)
		assert.InDelta(t, e.anomaly[s]/si.thr[s], sc.Score, tol*max(1, e.anomaly[s]), "anomaly score of %s", id)
		assert.Equal(t, sc.Score >= 1, sc.Anomalous, id)
	}
	require.NotNil(t, r.RUL)
	assert.Equal(t, "pump_mp1", r.RUL.Component)
	assert.InDelta(t, e.rul[0], r.RUL.P10Hours, tol*300)
	assert.InDelta(t, e.rul[1], r.RUL.P50Hours, tol*300)
	assert.InDelta(t, e.rul[2], r.RUL.P90Hours, tol*300)
}

func TestRunMatchesExpectedOutputs(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	for _, tc := range []struct {
		name  string
		quant bundle.Quantization
		force bundle.Precision
		file  string
		tol   float64
	}{
		{"default picks int8 weight-qdq", bundle.QuantWeightQDQ, "", int8File, 2e-2},
		{"int8 dynamic", bundle.QuantDynamic, bundle.INT8, int8File, 3e-2},
		{"forced fp32", bundle.QuantWeightQDQ, bundle.FP32, fp32File, 1e-5},
		{"fp32 only", bundle.QuantNone, "", fp32File, 1e-5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := si.writeBundle(t, bundleOpts{int8: tc.quant})
			m := open(t, dir, si, Options{Precision: tc.force})
			info := m.Info()
			assert.Equal(t, tc.file, info.File)
			assert.Equal(t, []Provider{CPU}, info.Providers)
			assert.Equal(t, 1, info.IntraOpThreads)
			assert.Equal(t, []string{InputX, InputMask}, info.Inputs)
			assert.Equal(t, si.S, info.Sensors)
			assert.Equal(t, steps, info.Steps)

			w := si.window(t, 1, nil, nil)
			out, err := m.Run([]*prep.Window{w})
			require.NoError(t, err)
			require.Len(t, out.Results, 1)
			assert.Positive(t, out.Elapsed)
			assertResult(t, si, w, &out.Results[0], tc.tol)
		})
	}
}

func TestBatchSingleAndRunIntoAgree(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{}), si, Options{Precision: bundle.FP32, MaxBatch: 8})
	ws := []*prep.Window{si.window(t, 1, nil, nil), si.window(t, 2, []string{"PS3"}, nil),
		si.window(t, 3, nil, []string{"TS1"}), si.window(t, 4, nil, nil)}
	batch, err := m.Run(ws)
	require.NoError(t, err)
	require.Len(t, batch.Results, len(ws))
	var into Result
	for i, w := range ws {
		one, err := m.Run(ws[i : i+1])
		require.NoError(t, err)
		assertResult(t, si, w, &batch.Results[i], 1e-5)
		assert.Equal(t, one.Results[0], batch.Results[i], "window %d: batch == single", i)
		d, err := m.RunInto(&into, w)
		require.NoError(t, err)
		assert.Positive(t, d)
		assert.Equal(t, one.Results[0], into, "window %d: RunInto == Run", i)
	}
	// A second batch of another size reallocates the batch tensors.
	two, err := m.Run(ws[1:3])
	require.NoError(t, err)
	assert.Equal(t, batch.Results[1:3], two.Results)
}

func TestMaskedSensorsAreFlagged(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{}), si, Options{})
	w := si.window(t, 5, []string{"PS1", "FS2"}, []string{"TS2"})
	require.Equal(t, []string{"PS1", "FS2"}, w.Missing)
	require.Equal(t, []string{"TS2"}, w.Stale)
	out, err := m.Run([]*prep.Window{w})
	require.NoError(t, err)
	r := &out.Results[0]
	for _, sc := range r.Sensors {
		assert.Equal(t, contains(w.Missing, sc.ID), sc.Masked, sc.ID)
	}
	d, err := m.Diagnose(r, w, out.Elapsed)
	require.NoError(t, err)
	assert.Equal(t, []string{"PS1", "FS2"}, d.Window.Missing)
	assert.Equal(t, []string{"TS2"}, d.Window.Stale)
	// pump_mp2's only input sensor (FS2) is missing: its status is unknown.
	for _, c := range d.Components {
		if c.ID == "pump_mp2" {
			assert.Equal(t, diag.Unknown, c.Status)
		}
	}
	var sensorFaults []diag.Anomaly
	for _, a := range d.Anomalies {
		if a.Fault == "sensor_fault" {
			sensorFaults = append(sensorFaults, a)
		}
	}
	require.Len(t, sensorFaults, 2)
	assert.ElementsMatch(t, [][]string{{"PS1"}, {"FS2"}}, [][]string{sensorFaults[0].Sensors, sensorFaults[1].Sensors})
	_, err = json.Marshal(d)
	require.NoError(t, err)
}

func TestOpenRefuses(t *testing.T) {
	needORT(t)
	zema := loadRig(t, zemaConfig)
	si := newStandIn(t, zema)
	for _, tc := range []struct {
		name   string
		dir    func(t *testing.T) string
		opts   Options
		is     error
		wants  []string
		forRig string
	}{
		{
			name: "bundle for another rig",
			dir:  func(t *testing.T) string { return si.writeBundle(t, bundleOpts{}) },
			is:   bundle.ErrMismatch, forRig: skabConfig,
			wants: []string{`rig type "zema-testrig", the rig is "skab-testbed"`, "firmware-config digest"},
		},
		{
			name: "tampered model file",
			dir: func(t *testing.T) string {
				dir := si.writeBundle(t, bundleOpts{})
				p := filepath.Join(dir, int8File)
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				data[len(data)-1] ^= 1
				require.NoError(t, os.WriteFile(p, data, 0o644))
				return dir
			},
			is: bundle.ErrInvalid, wants: []string{int8File + " is ", "the manifest says"},
		},
		{
			name: "graph output names differ from the manifest",
			dir: func(t *testing.T) string {
				return si.writeBundle(t, bundleOpts{variant: variant{rename: map[string]string{"health": "component_health"}}})
			},
			is: ErrGraph, wants: []string{`lack "health"`, `graph has no output "health" (health head)`, "component_health"},
		},
		{
			name: "graph input steps differ from the spec",
			dir:  func(t *testing.T) string { return si.writeBundle(t, bundleOpts{variant: variant{steps: 30}}) },
			is:   ErrGraph, wants: []string{`graph input "x" has shape [-1 17 30], want [batch, 17, 60]`},
		},
		{
			name: "manifest lists an input the graph lacks",
			dir: func(t *testing.T) string {
				return si.writeBundle(t, bundleOpts{variant: variant{noMask: true}, mutate: func(m *bundle.Manifest) {
					for i := range m.Models {
						m.Models[i].Inputs = []string{InputX, InputMask}
					}
				}})
			},
			is: ErrGraph, wants: []string{`graph inputs ["x"], the manifest says ["x" "mask"]`},
		},
		{
			name: "class values differ from the rig's target",
			dir: func(t *testing.T) string {
				return si.writeBundle(t, bundleOpts{mutate: func(m *bundle.Manifest) { m.Heads[1].Values[0] = 4 }})
			},
			is: bundle.ErrMismatch, wants: []string{`class values [4 20 100] differ from the rig's target "cooler" classes [3 20 100]`},
		},
		{
			name:  "forced int8 missing",
			dir:   func(t *testing.T) string { return si.writeBundle(t, bundleOpts{int8: bundle.QuantNone}) },
			opts:  Options{Precision: bundle.INT8},
			wants: []string{"bundle standin 0.1.0 has no int8 model (it has: fp32)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := zema
			if tc.forRig != "" {
				cfg = loadRig(t, tc.forRig)
			}
			tc.opts.Logger = quiet
			m, err := Open(tc.dir(t), cfg, tc.opts)
			require.Error(t, err)
			assert.Nil(t, m)
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			for _, want := range tc.wants {
				assert.Contains(t, err.Error(), want)
			}
		})
	}
}

func TestModelWithoutMaskInput(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{variant: variant{noMask: true}}), si, Options{Precision: bundle.FP32})
	assert.Equal(t, []string{InputX}, m.Info().Inputs)
	w := si.window(t, 1, nil, nil) // no missing cells: the mask is all ones
	out, err := m.Run([]*prep.Window{w, w})
	require.NoError(t, err)
	assertResult(t, si, w, &out.Results[1], 1e-5)
}

func TestFixedBatchOneGraph(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{variant: variant{fixedBatch: true}}), si, Options{Precision: bundle.FP32})
	ws := []*prep.Window{si.window(t, 1, nil, nil), si.window(t, 2, nil, nil), si.window(t, 3, nil, nil)}
	out, err := m.Run(ws)
	require.NoError(t, err)
	for i, w := range ws {
		assertResult(t, si, w, &out.Results[i], 1e-5)
	}
}

func TestGPUProviderFallsBackToCPU(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	var logs syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	m := open(t, si.writeBundle(t, bundleOpts{}), si, Options{Providers: []Provider{TensorRT, CUDA}, Logger: log,
		ProviderOptions: map[Provider]map[string]string{TensorRT: {"trt_fp16_enable": "1"}}})
	got := m.Info().Providers
	if len(got) > 1 {
		t.Skipf("this ONNX Runtime has GPU providers %v: the fallback is not exercised here", got)
	}
	assert.Equal(t, []Provider{CPU}, got)
	out := logs.String()
	for _, p := range []string{"tensorrt", "cuda"} {
		assert.Contains(t, out, `level=WARN msg="execution provider unavailable, falling back" provider=`+p)
	}
	assert.Contains(t, out, "model opened")
	w := si.window(t, 1, nil, nil)
	res, err := m.Run([]*prep.Window{w})
	require.NoError(t, err)
	assertResult(t, si, w, &res.Results[0], 2e-2)
}

func TestRunRefusesBadWindows(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{}), si, Options{MaxBatch: 2})
	good := si.window(t, 1, nil, nil)
	nan := good.Clone()
	nan.Values[3*steps+7] = float32(math.NaN())
	half := good.Clone()
	half.Mask[5] = 0.5
	short := good.Clone()
	short.Values = short.Values[:10]
	skabSpec := newStandIn(t, loadRig(t, skabConfig)).window(t, 1, nil, nil)
	for _, tc := range []struct {
		name string
		ws   []*prep.Window
		want string
	}{
		{"none", nil, "no windows"},
		{"too many", []*prep.Window{good, good, good}, "3 windows in one run, the maximum is 2"},
		{"nil", []*prep.Window{good, nil}, "window 1: nil window"},
		{"NaN", []*prep.Window{nan}, `value NaN of sensor "PS4" at step 7 is not finite`},
		{"mask", []*prep.Window{half}, `mask of sensor "PS1" at step 5 is 0.5`},
		{"short", []*prep.Window{short}, "window has 10 values, want 1020 (17 sensors x 60 steps)"},
		{"another spec", []*prep.Window{skabSpec}, "values, want 1020"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := m.Run(tc.ws)
			require.ErrorIs(t, err, ErrInput)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := m.RunInto(&Result{}, nan)
	require.ErrorIs(t, err, ErrInput)
}

func TestCloseIsIdempotent(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m, err := Open(si.writeBundle(t, bundleOpts{}), si.cfg, Options{Logger: quiet})
	require.NoError(t, err)
	w := si.window(t, 1, nil, nil)
	_, err = m.Run([]*prep.Window{w, w})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	_, err = m.Run([]*prep.Window{w})
	require.ErrorIs(t, err, ErrClosed)
	_, err = m.RunInto(&Result{}, w)
	require.ErrorIs(t, err, ErrClosed)
}

func TestConcurrentRuns(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := open(t, si.writeBundle(t, bundleOpts{}), si, Options{})
	ws := []*prep.Window{si.window(t, 1, nil, nil), si.window(t, 2, []string{"CE"}, nil)}
	want := make([]Result, len(ws))
	for i, w := range ws {
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		want[i] = out.Results[0]
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			var r Result
			for k := range 20 {
				i := (g + k) % len(ws)
				if g%2 == 0 {
					if _, err := m.RunInto(&r, ws[i]); err != nil {
						errs <- err
						return
					}
				} else {
					out, err := m.Run(ws)
					if err != nil {
						errs <- err
						return
					}
					r = out.Results[i]
				}
				if !assert.Equal(t, want[i], r) {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestSKABBundleDetectorAtOpen: the shipped skab-testbed bundle records
// the SKAB detector in its training provenance, with everything a
// Detector needs: Open says so (info); a bundle built before the model
// normalisation was recorded gets a warning. Run alone (no Detector)
// gives diagnoses without health (no class or health head): status
// unknown, anomalies from the raw per-window scores only (see
// docs/agent.md, "Rigs without labels").
func TestSKABBundleDetectorAtOpen(t *testing.T) {
	needORT(t)
	old := t.TempDir()
	require.NoError(t, os.CopyFS(old, os.DirFS("../../models/bundles/skab-testbed")))
	var man map[string]any
	b, err := os.ReadFile(filepath.Join(old, "manifest.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &man))
	delete(man["provenance"].(map[string]any)["config"].(map[string]any), SKABModelNormKey)
	b, err = json.Marshal(man)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(old, "manifest.json"), b, 0o644))
	for _, tc := range []struct {
		rig, bundle string
		warn, info  bool
	}{
		{"../../firmware-configs/skab-testbed.yaml", "../../models/bundles/skab-testbed", false, true},
		{"../../firmware-configs/skab-testbed.yaml", old, true, false},
		{"../../firmware-configs/zema-testrig.yaml", "../../models/bundles/zema-testrig", false, false},
	} {
		var logs syncbuf.Buffer
		m, err := Open(tc.bundle, loadRig(t, tc.rig), Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		require.NoError(t, err)
		t.Cleanup(func() { _ = m.Close() })
		assert.Equal(t, tc.warn, strings.Contains(logs.String(), "level=WARN msg=\"bundle's anomaly thresholds are for a SKAB detector"), "%s: %s", tc.bundle, logs.String())
		assert.Equal(t, tc.info, strings.Contains(logs.String(), "level=INFO msg=\"bundle carries the SKAB detector"), "%s: %s", tc.bundle, logs.String())
		_, err = m.NewDetector(nil)
		switch {
		case tc.info:
			require.NoError(t, err)
		case tc.warn:
			require.ErrorIs(t, err, bundle.ErrInvalid)
			require.ErrorContains(t, err, SKABModelNormKey)
		default:
			require.ErrorIs(t, err, ErrNoDetector)
		}
		if !tc.info {
			continue
		}
		spec := m.Spec()
		rs, err := prep.NewResampler(spec)
		require.NoError(t, err)
		grid := make([][]float64, len(spec.Sensors))
		for s, ss := range spec.Sensors {
			grid[s] = slices.Repeat([]float64{ss.Mean}, spec.Steps)
		}
		w, err := rs.FromGrid(grid)
		require.NoError(t, err)
		out, err := m.Run([]*prep.Window{w})
		require.NoError(t, err)
		d, err := m.Diagnose(&out.Results[0], w, 0)
		require.NoError(t, err)
		assert.Empty(t, d.Targets)
		assert.Equal(t, diag.Unknown, d.Status, "no head gives an unlabelled rig a health")
		assert.Len(t, d.Sensors, len(spec.Sensors))
	}
}

// The RUL head's outputs are clamped to >= 0.
func TestRunClampsNegativeRUL(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	si.r0 = []float64{-1e6, -1e6, 50}
	dir := si.writeBundle(t, bundleOpts{int8: bundle.QuantNone})
	m := open(t, dir, si, Options{})
	w := si.window(t, 1, nil, nil)
	e := si.expected(w)
	require.Negative(t, e.rul[0])
	out, err := m.Run([]*prep.Window{w})
	require.NoError(t, err)
	r := out.Results[0].RUL
	require.NotNil(t, r)
	assert.Equal(t, 0.0, r.P10Hours)
	assert.Equal(t, 0.0, r.P50Hours)
	assert.InDelta(t, max(0, e.rul[2]), r.P90Hours, 1e-3*300)
}

// TestRunIntoCPU: with Options.RunCPU, RunInto reports the thread's CPU
// time in the ONNX Runtime call (the agent's
// rig_agent_inference_cpu_seconds); Run does not, nor RunInto without
// the option, and a reused Result does not keep an earlier call's.
func TestRunIntoCPU(t *testing.T) {
	needORT(t)
	si := newStandIn(t, loadRig(t, zemaConfig))
	dir := si.writeBundle(t, bundleOpts{variant: variant{gru: true}})
	m := open(t, dir, si, Options{RunCPU: true})
	w := si.window(t, 1, nil, nil)
	var r Result
	for range 3 {
		_, err := m.RunInto(&r, w)
		require.NoError(t, err)
		assert.Positive(t, r.RunCPU, "CPU time of the ONNX Runtime call")
	}
	out, err := m.Run([]*prep.Window{w, w})
	require.NoError(t, err)
	for _, res := range out.Results {
		assert.Zero(t, res.RunCPU)
	}
	_, err = open(t, dir, si, Options{}).RunInto(&r, w)
	require.NoError(t, err)
	assert.Zero(t, r.RunCPU, "not measured without Options.RunCPU")
}
