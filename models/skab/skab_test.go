package skab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/models/gnn"
	"github.com/hydrognn/hydrognn/shared/dataset"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

const rigFile = "../../firmware-configs/skab-testbed.yaml"

func loadRig(t *testing.T) *rig.Config {
	t.Helper()
	cfg, err := rig.Load(rigFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The protocol on a hand-made example: file 1 has 3 calibration rows
// (never scored, whatever their labels and decisions) and 5 scored rows;
// file 2 has 3 + 3.
func TestProtocolExact(t *testing.T) {
	labels := [][]bool{
		{true, false, false /**/, false, false, true, true, true},
		{false, false, false /**/, true, false, false},
	}
	pred := [][]bool{
		{true, true, true /**/, true, false, true, false, true},
		{false, true, false /**/, true, true, false},
	}
	total, per, err := Protocol(labels, pred, 3)
	if err != nil {
		t.Fatal(err)
	}
	// File 1 scored: (F,T) FP, (F,F) TN, (T,T) TP, (T,F) FN, (T,T) TP.
	// File 2 scored: (T,T) TP, (F,T) FP, (F,F) TN.
	want1 := Confusion{TP: 2, FP: 1, TN: 1, FN: 1}
	want2 := Confusion{TP: 1, FP: 1, TN: 1, FN: 0}
	if per[0] != want1 || per[1] != want2 {
		t.Fatalf("per file %+v, want %+v and %+v", per, want1, want2)
	}
	if want := (Confusion{TP: 3, FP: 2, TN: 2, FN: 1}); total != want {
		t.Fatalf("total %+v, want %+v", total, want)
	}
	// F1 = 2·3/(2·3+2+1) = 6/9, FAR = 2/(2+2), MAR = 1/(1+3).
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"F1", total.F1(), 6.0 / 9}, {"FAR", total.FAR(), 0.5}, {"MAR", total.MAR(), 0.25}} {
		if math.Abs(c.got-c.want) > 1e-15 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if total.Rows() != 8 {
		t.Errorf("rows %d, want 8", total.Rows())
	}
}

func TestProtocolErrors(t *testing.T) {
	if _, _, err := Protocol([][]bool{{false, true}}, [][]bool{{false}}, 0); !errors.Is(err, ErrData) {
		t.Errorf("ragged: %v", err)
	}
	if _, _, err := Protocol([][]bool{{false, true}}, [][]bool{{false, true}}, 2); err == nil || !strings.Contains(err.Error(), "none after") {
		t.Errorf("short file: %v", err)
	}
	if _, _, err := Protocol([][]bool{{false}}, nil, 0); !errors.Is(err, ErrData) {
		t.Errorf("file count: %v", err)
	}
	var c Confusion
	if c.F1() != 0 || c.FAR() != 0 || c.MAR() != 0 {
		t.Errorf("empty confusion: %v %v %v", c.F1(), c.FAR(), c.MAR())
	}
}

func TestLoadMapsColumns(t *testing.T) {
	cfg := loadRig(t)
	s, err := Load("testdata/small.csv", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows() != 4 || len(s.Sensors) != 8 {
		t.Fatalf("%d rows, %d sensors", s.Rows(), len(s.Sensors))
	}
	// VolumeFlowRateRMS reads the column "Volume Flow RateRMS".
	i := len(s.Sensors) - 1
	if s.Sensors[i] != "VolumeFlowRateRMS" || s.Values[i][3] != 103 {
		t.Errorf("sensor %q row 4 = %v, want VolumeFlowRateRMS 103", s.Sensors[i], s.Values[i][3])
	}
	if s.Values[2][1] != 2.1 { // Current
		t.Errorf("Current row 2 = %v", s.Values[2][1])
	}
	if want := []bool{false, false, true, true}; fmt.Sprint(s.Anomaly) != fmt.Sprint(want) {
		t.Errorf("labels %v, want %v", s.Anomaly, want)
	}
}

func TestLoadBadInput(t *testing.T) {
	cfg := loadRig(t)
	_, err := Load("testdata/missing-flow.csv", cfg)
	if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "missing-flow.csv") ||
		!strings.Contains(err.Error(), `VolumeFlowRateRMS (column "Volume Flow RateRMS")`) {
		t.Errorf("missing column: %v", err)
	}
	_, err = Load("testdata/nan.csv", cfg)
	if err == nil || !strings.Contains(err.Error(), "nan.csv line 3") || !strings.Contains(err.Error(), "Current") {
		t.Errorf("NaN: %v", err)
	}
	if _, err := LoadDir(t.TempDir(), cfg); !errors.Is(err, ErrData) {
		t.Errorf("empty folder: %v", err)
	}
	// Too short for the protocol: 4 rows, 400 calibration rows.
	dir := t.TempDir()
	copyFile(t, "testdata/small.csv", filepath.Join(dir, "valve1", "1.csv"))
	_, _, err = Bench(context.Background(), cfg, dir, Options{}, DetectorOptions{}, nil)
	if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "1.csv has 4 rows") {
		t.Errorf("short file: %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLevelAndSmooth(t *testing.T) {
	vals := [][]float64{{1, -3, 2, 4, -1}}
	got := levelFeature(vals, 2)
	// Windows ending at rows 1..4: |(1-3)/2|, |(-3+2)/2|, |(2+4)/2|, |(4-1)/2|;
	// row 0 takes the first full window's value.
	want := []float64{1, 1, 0.5, 3, 1.5}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("level %v, want %v", got, want)
	}
	// Two sensors interleaved [row*S+s]; causal mean over the last 2 rows.
	sm := smooth([]float64{1, 10, 3, 20, 5, 30}, 2, 2)
	if want := []float64{1, 10, 2, 15, 4, 25}; fmt.Sprint(sm) != fmt.Sprint(want) {
		t.Errorf("smooth %v, want %v", sm, want)
	}
}

// The short level term on a hand-made series: one sensor, model window
// 3, short window 2, unit scales and thresholds, error term off.
func TestShortLevelTerm(t *testing.T) {
	vals := [][]float64{{0, 0, 0, 6, 0, 0}}
	f := &features{rows: 6, sensors: 1, level: levelFeature(vals, 3), err: make([]float64, 6), vals: vals}
	d := &Detector{Steps: 3, Smooth: 1, LevelScale: []float64{1}, ErrorScale: []float64{1}, LevelK: 1, ErrorK: -1}
	// Level (T = 3): windows ending at rows 2..5 give 0, 2, 2, 2.
	if got := d.score(f).Value; fmt.Sprint(got) != "[0 0 0 2 2 2]" {
		t.Errorf("without the short term: %v", got)
	}
	// Short (2 rows): windows ending at rows 1..5 give 0, 0, 3, 3, 0; the
	// row's score is the larger term.
	d.ShortSteps, d.ShortScale, d.ShortK = 2, []float64{1}, 1
	sc := d.score(f)
	if fmt.Sprint(sc.Value) != "[0 0 0 3 3 2]" || !sc.Level[3] {
		t.Errorf("with the short term: %v (level %v)", sc.Value, sc.Level)
	}
	// Threshold 2 on the short term: 1.5 at rows 3 and 4, below the level term.
	d.ShortK = 2
	if got := d.score(f).Value; fmt.Sprint(got) != "[0 0 0 2 2 2]" {
		t.Errorf("short threshold 2: %v", got)
	}
}

// The short term's scale is fitted like the level term's: the quantile
// of the out-of-sample rows.
func TestShortLevelFit(t *testing.T) {
	vals := [][]float64{{0, 2, 4, 6}}
	// Level (T = 3) rows 2, 3: 2, 4; short (2) rows 2, 3: 3, 5.
	f := &features{rows: 4, sensors: 1, level: levelFeature(vals, 3), err: make([]float64, 4), vals: vals}
	for _, c := range []struct {
		q                 float64
		wantLevel, wantSh float64
	}{{0.5, 2, 3}, {1, 4, 5}} {
		o := DetectorOptions{Smooth: 1, Quantile: c.q, ShortSteps: 2}
		o.defaults()
		d := &Detector{Steps: 3, Smooth: 1, ShortSteps: 2}
		if err := d.fitScales([]*features{f}, []int{2}, o); err != nil {
			t.Fatal(err)
		}
		if d.LevelScale[0] != c.wantLevel || d.ShortScale[0] != c.wantSh {
			t.Errorf("q %v: level scale %v, short scale %v; want %v, %v", c.q, d.LevelScale, d.ShortScale, c.wantLevel, c.wantSh)
		}
		if o.ShortK != 1.5 {
			t.Errorf("default short threshold %v, want 1.5", o.ShortK)
		}
	}
	// Widening raises the short scale too.
	d := &Detector{LevelScale: []float64{1}, ErrorScale: []float64{1}, ShortScale: []float64{1}}
	w := d.widened(&Detector{LevelScale: []float64{0.5}, ErrorScale: []float64{2}, ShortScale: []float64{3}})
	if fmt.Sprint(w.LevelScale, w.ErrorScale, w.ShortScale) != "[1] [2] [3]" || d.ShortScale[0] != 1 {
		t.Errorf("widened %v %v %v (original short %v)", w.LevelScale, w.ErrorScale, w.ShortScale, d.ShortScale)
	}
	// A short window as long as the model's is refused.
	m := &Model{Options: Options{Steps: 3, CalibRows: 8}}
	if _, err := m.fitDetector([]*features{f}, DetectorOptions{ShortSteps: 3}); !errors.Is(err, ErrData) || !strings.Contains(err.Error(), "short level window") {
		t.Errorf("short window 3 of 3: %v", err)
	}
}

// Compose gives in one prep pass what two passes give.
func TestCompose(t *testing.T) {
	cfg := loadRig(t)
	base, err := BaseSpec(cfg, 5)
	if err != nil {
		t.Fatal(err)
	}
	calib, model := base, unitSpec(base)
	calib.Sensors = append([]prep.SensorSpec(nil), base.Sensors...)
	for i := range calib.Sensors {
		calib.Sensors[i].Mean, calib.Sensors[i].Std = float64(10*i), float64(i+1)
		model.Sensors[i].Mean, model.Sensors[i].Std = 0.5, 2
	}
	both, err := Compose(calib, model)
	if err != nil {
		t.Fatal(err)
	}
	grid := make([][]float64, len(base.Sensors))
	for i := range grid {
		for k := range 5 {
			grid[i] = append(grid[i], float64(10*i+k))
		}
	}
	w1, err := prep.FromGrid(calib, grid)
	if err != nil {
		t.Fatal(err)
	}
	mid := make([][]float64, len(grid))
	for i := range mid {
		for k := range 5 {
			mid[i] = append(mid[i], float64(w1.Values[i*5+k]))
		}
	}
	w2, err := prep.FromGrid(model, mid)
	if err != nil {
		t.Fatal(err)
	}
	w, err := prep.FromGrid(both, grid)
	if err != nil {
		t.Fatal(err)
	}
	for c := range w.Values {
		if math.Abs(float64(w.Values[c]-w2.Values[c])) > 1e-6 {
			t.Fatalf("cell %d: composed %v, two passes %v", c, w.Values[c], w2.Values[c])
		}
	}
}

// writeSynthetic writes a SKAB-format file of n rows: steady noisy
// sensors; rows [a0, a1) anomalous (flow drops by 10 l/min, vibration
// doubles) when labelled.
func writeSynthetic(t *testing.T, path string, n, a0, a1 int, labelled bool, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("datetime;Accelerometer1RMS;Accelerometer2RMS;Current;Pressure;Temperature;Thermocouple;Voltage;Volume Flow RateRMS")
	if labelled {
		b.WriteString(";anomaly;changepoint")
	}
	b.WriteString("\n")
	for r := range n {
		an := labelled && r >= a0 && r < a1
		acc, flow := 0.2, 100.0
		if an {
			acc, flow = 0.4, 90
		}
		fmt.Fprintf(&b, "2021-01-01 %02d:%02d:%02d;%.4f;%.4f;%.3f;%.3f;%.2f;%.2f;%.1f;%.1f",
			r/3600, r/60%60, r%60, acc+0.01*rng.NormFloat64(), acc+0.01*rng.NormFloat64(), 2+0.1*rng.NormFloat64(),
			0.5+0.05*rng.NormFloat64(), 80+0.2*rng.NormFloat64(), 25+0.1*rng.NormFloat64(),
			230+2*rng.NormFloat64(), flow+0.5*rng.NormFloat64())
		if labelled {
			a := 0.0
			if an {
				a = 1
			}
			fmt.Fprintf(&b, ";%.1f;0.0", a)
		}
		b.WriteString("\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tinyOptions() (Options, DetectorOptions) {
	return Options{Steps: 10, CalibRows: 60, Epochs: 2, TrainStride: 3, BatchSize: 8, Seed: 1,
			Sizes: gnn.Sizes{Hidden: 8, Heads: 1, Layers: 1, HeadHidden: 4, Window: 4, Readout: 4}},
		DetectorOptions{Smooth: 3}
}

// A tiny end-to-end run on synthetic files: train, fit, score, evaluate,
// save and load.
func TestBenchTiny(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	writeSynthetic(t, filepath.Join(dir, "anomaly-free", AnomalyFreeName), 240, 0, 0, false, 1)
	writeSynthetic(t, filepath.Join(dir, "valve1", "1.csv"), 200, 110, 170, true, 2)
	writeSynthetic(t, filepath.Join(dir, "other", "2.csv"), 180, 90, 150, true, 3)
	o, do := tinyOptions()
	rep, m, err := Bench(context.Background(), cfg, dir, o, do, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Files != 2 || rep.Total.Rows() != (200-60)+(180-60) {
		t.Fatalf("files %d rows %d", rep.Files, rep.Total.Rows())
	}
	t.Logf("F1 %.3f FAR %.3f MAR %.3f, level scale %.3g, error scale %.3g", rep.F1, rep.FAR, rep.MAR, m.Detector.LevelScale, m.Detector.ErrorScale)
	// The windows (10 rows) and the smoothing (3) keep alarms up for
	// about a dozen rows after each anomaly: FAR stays well above 0 on
	// files this short.
	if rep.F1 < 0.8 || rep.MAR > 0.1 || rep.FAR > 0.35 {
		t.Errorf("an obvious anomaly: F1 %.3f FAR %.3f MAR %.3f", rep.F1, rep.FAR, rep.MAR)
	}
	if n := len(m.Thresholds()); n != 8 {
		t.Errorf("%d thresholds", n)
	}
	// Save and load give the same scores.
	save := t.TempDir()
	if err := m.Save(save); err != nil {
		t.Fatal(err)
	}
	m2, err := LoadModel(save, cfg)
	if err != nil {
		t.Fatal(err)
	}
	set, err := LoadDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep2, err := m2.Evaluate(set)
	if err != nil {
		t.Fatal(err)
	}
	if rep2.Total != rep.Total {
		t.Errorf("loaded model: %+v, trained %+v", rep2.Total, rep.Total)
	}
	// Sweep with the same options gives what Evaluate gives; the pooled
	// ablation and the short level term run too.
	short := do
	short.ShortSteps = 4
	reps, dets, err := m2.Sweep(set, []DetectorOptions{do, {Smooth: do.Smooth, PooledOnly: true}, short})
	if err != nil {
		t.Fatal(err)
	}
	if reps[0].Total != rep.Total || reps[1].Total.Rows() != rep.Total.Rows() {
		t.Errorf("sweep: %+v and %+v, evaluate %+v", reps[0].Total, reps[1].Total, rep.Total)
	}
	// A detector with the short term keeps it through Save and LoadModel.
	if d := dets[2]; d.ShortSteps != 4 || len(d.ShortScale) != 8 || d.ShortK != 1.5 {
		t.Fatalf("short term: steps %d scale %v k %v", d.ShortSteps, d.ShortScale, d.ShortK)
	}
	m2.Detector = *dets[2]
	if err := m2.Save(save); err != nil {
		t.Fatal(err)
	}
	m3, err := LoadModel(save, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep3, err := m3.Evaluate(set); err != nil || rep3.Total != reps[2].Total {
		t.Errorf("saved short detector: %+v (%v), sweep %+v", rep3, err, reps[2].Total)
	}
	// The bundle spec: raw readings -> model input in one prep pass.
	if _, err := Compose(m.FreeCalib, m.Result.Spec); err != nil {
		t.Error(err)
	}
	// Another rig's config is refused.
	other := *cfg
	other.RigType = "another-rig"
	if _, err := LoadModel(save, &other); !errors.Is(err, ErrData) {
		t.Errorf("other rig: %v", err)
	}
}

// The real SKAB folder, when present: every file maps onto the config and
// is long enough for the protocol; the anomaly-free run is not scored.
func TestRealData(t *testing.T) {
	d, err := dataset.Dir()
	if err != nil {
		t.Skipf("real data not found (%v)", err)
	}
	dir := filepath.Join(d, "skab")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("real data not found: %v", err)
	}
	cfg := loadRig(t)
	set, err := LoadDir(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Free) != 1 || len(set.Experiments) < 2 {
		t.Fatalf("%d anomaly-free, %d experiment files", len(set.Free), len(set.Experiments))
	}
	base, err := BaseSpec(cfg, 30)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range set.Experiments {
		if s.Rows() <= CalibRows {
			t.Errorf("%s: %d rows", s.Name, s.Rows())
		}
		spec, err := Calibrate(base, s, 0, CalibRows)
		if err != nil {
			t.Fatal(err)
		}
		v, err := Normalize(spec, s, 0, CalibRows)
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range v {
			m := 0.0
			for _, x := range row {
				m += x
			}
			if m /= float64(len(row)); math.Abs(m) > 1e-3 {
				t.Errorf("%s %s: calibrated mean %v", s.Name, s.Sensors[i], m)
			}
		}
	}
}

// A model saved before the one-patch rule (10 steps, patch 10) is refused
// with an error that says to retrain it.
func TestLoadModelOnePatch(t *testing.T) {
	cfg := loadRig(t)
	dir := t.TempDir()
	s := saved{RigType: cfg.RigType, RigDigest: cfg.Digest(), Options: Options{Steps: 10}, Sizes: gnn.Sizes{Patch: 10}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ModelFile), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadModel(dir, cfg)
	if !errors.Is(err, gnn.ErrConfig) || !strings.Contains(err.Error(), "retrain it") {
		t.Errorf("one patch: %v", err)
	}
}
