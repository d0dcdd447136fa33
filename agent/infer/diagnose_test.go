package infer

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/prep"
	"github.com/hydrognn/hydrognn/shared/rig"
)

var diagNow = time.Date(2026, 11, 27, 12, 34, 56, 0, time.UTC)

// diagModel returns a Model for Diagnose's logic without ONNX Runtime: the
// manifest of a stand-in bundle and the rig, no session.
func diagModel(t *testing.T, si *standIn, o bundleOpts) *Model {
	t.Helper()
	man, err := bundle.Load(si.writeBundle(t, o))
	require.NoError(t, err)
	m := &Model{cfg: si.cfg, manifest: man, file: man.Models[0], digest: man.Digest(), S: si.S, T: si.spec.Steps}
	m.opts, err = Options{Now: func() time.Time { return diagNow }}.withDefaults()
	require.NoError(t, err)
	require.NoError(t, m.planHeads())
	return m
}

// trainedWithout returns bundle options for a bundle whose models were
// trained to judge without the given sensors (whole-window dropout).
func trainedWithout(ids ...string) bundleOpts {
	return bundleOpts{mutate: func(m *bundle.Manifest) {
		m.Provenance.Config = map[string]any{bundle.DropoutSensorsKey: ids}
	}}
}

// targets returns class results putting probability p on the class with
// value v of each named target (the rest spread evenly), and certainty on
// the healthy class of the others.
func targets(cfg *rig.Config, pick map[string][2]float64) []diag.TargetResult {
	var out []diag.TargetResult
	for _, t := range cfg.Targets {
		tr := diag.TargetResult{Name: t.Name}
		v, p := 0.0, 1.0 // default: the first class naming no fault
		for _, c := range t.Classes {
			if c.Fault == "" {
				v = c.Value
				break
			}
		}
		if x, ok := pick[t.Name]; ok {
			v, p = x[0], x[1]
		}
		for k, c := range t.Classes {
			cp := diag.ClassProb{Value: c.Value, Label: c.Label, P: (1 - p) / float64(len(t.Classes)-1)}
			if c.Value == v {
				cp.P, tr.Predicted = p, k
			}
			tr.Classes = append(tr.Classes, cp)
		}
		out = append(out, tr)
	}
	return out
}

func scores(si *standIn, missing []string, set map[string]float64) []diag.SensorScore {
	out := make([]diag.SensorScore, si.S)
	for s, ss := range si.spec.Sensors {
		sc := diag.SensorScore{ID: ss.ID, Score: 0.2}
		if v, ok := set[ss.ID]; ok {
			sc.Score = v
		}
		if contains(missing, ss.ID) {
			sc = diag.SensorScore{ID: ss.ID, Masked: true}
		}
		sc.Anomalous = sc.Score >= 1
		out[s] = sc
	}
	return out
}

func TestDiagnose(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	missing := []string{"EPS1"} // motor_m1's only sensor
	m := diagModel(t, si, trainedWithout(missing...))
	w := si.window(t, 1, missing, []string{"TS1"})
	health := map[string]float64{"cooler_c1": 0.2, "valve_v10": 0.6, "pump_mp1": 0.65}
	r := &Result{
		Targets: targets(si.cfg, map[string][2]float64{"cooler": {20, 0.8}, "pump": {1, 0.55}}),
		Sensors: scores(si, missing, map[string]float64{"TS3": 2.5, "CE": 1.2, "CP": 0.1, "VS1": 5, "PS5": 3}),
		RUL:     &diag.RUL{Component: "pump_mp1", P10Hours: 240, P50Hours: 480, P90Hours: 960},
	}
	for _, c := range si.cfg.Components {
		h, ok := health[c.ID]
		if !ok {
			h = 0.9
		}
		r.Health = append(r.Health, h)
	}
	d, err := m.Diagnose(r, w, 250*time.Microsecond)
	require.NoError(t, err)

	assert.Equal(t, "zema-rig-1", d.RigID)
	assert.Equal(t, "zema-testrig", d.RigType)
	assert.Equal(t, diagNow, d.CreatedAt)
	assert.Equal(t, diag.ModelRef{Version: "0.1.0", Digest: m.digest, Precision: "fp32"}, d.Model)
	assert.EqualValues(t, 250, d.InferenceMicros)
	assert.Equal(t, w.Start, d.Window.Start)
	assert.Equal(t, w.Start.Add(time.Minute), d.Window.End)
	assert.Equal(t, 60, d.Window.Steps)
	assert.Equal(t, []string{"EPS1"}, d.Window.Missing)
	assert.Equal(t, []string{"TS1"}, d.Window.Stale)
	assert.InDelta(t, (15+50.0/60)/17, d.Window.Coverage, 1e-12)

	// Health and status come from the class heads (the health head's
	// values above are not read): the cooler's expected health
	// 0.8·0.2 + 0.1·0.03 + 0.1·1.
	assert.InDelta(t, 0.263, d.Health, 1e-12)
	assert.Equal(t, diag.Critical, d.Status)
	byID := map[string]diag.ComponentHealth{}
	for _, c := range d.Components {
		byID[c.ID] = c
	}
	require.Len(t, d.Components, len(si.cfg.Components))
	assert.Equal(t, diag.Critical, byID["cooler_c1"].Status)
	assert.Equal(t, diag.Healthy, byID["valve_v10"].Status, "its class head says optimal; the health head's 0.6 is not read")
	assert.Equal(t, diag.Warning, byID["pump_mp1"].Status, "p 0.55 on weak leakage (0.6): the warning band has the most mass")
	assert.Equal(t, diag.Unknown, byID["tank"].Status, "no condition target: nothing trained judges its health")
	assert.Zero(t, byID["tank"].Health)
	assert.Equal(t, diag.Unknown, byID["motor_m1"].Status, "its only sensor is missing")
	assert.Equal(t, diag.Healthy, byID["accumulator_a1"].Status, "no sensors at all: its class head still judges it")
	assert.Equal(t, 2.5, byID["cooler_c1"].AnomalyScore)
	assert.Equal(t, []diag.Driver{{Sensor: "TS3", Weight: 2.5}, {Sensor: "CE", Weight: 1.2}, {Sensor: "TS4", Weight: 0.2}},
		byID["cooler_c1"].Drivers, "strongest first, at most MaxDrivers")
	assert.Empty(t, byID["motor_m1"].Drivers)

	type brief struct {
		Fault    rig.Fault
		Severity diag.Severity
		Comp     string
		Sensors  []string
	}
	var got []brief
	for _, a := range d.Anomalies {
		got = append(got, brief{a.Fault, a.Severity, a.Components[0], a.Sensors})
	}
	assert.Equal(t, []brief{
		{rig.FaultCoolingLoss, diag.SeverityHigh, "cooler_c1", []string{"TS3", "CE", "TS4"}}, // class health 0.2
		{rig.FaultSensor, diag.SeverityMedium, "motor_m1", []string{"EPS1"}},                 // confidence 1
		{"", diag.SeverityMedium, "filter_f1", []string{"PS5"}},                              // score 3: confidence 0.67
		{rig.FaultLeakage, diag.SeverityMedium, "pump_mp1", []string{"VS1", "PS1", "SE"}},    // class health 0.6, p 0.55
	}, got)
	assert.InDelta(t, 2.0/3, d.Anomalies[2].Confidence, 1e-12)

	require.Len(t, d.Recommendations, 4)
	rec := d.Recommendations
	assert.Equal(t, actions[actionKey{rig.HeatExchanger, rig.FaultCoolingLoss}].Urgent, rec[0].Action)
	assert.Equal(t, diag.SeverityHigh, rec[0].Priority)
	assert.Equal(t, `cooler predicted "reduced efficiency" (p=0.80); driven by TS3, CE, TS4`, rec[0].Reason)
	assert.Equal(t, actions[actionKey{"", rig.FaultSensor}].Planned, rec[1].Action)
	assert.Equal(t, "no data from EPS1 in the window", rec[1].Reason)
	assert.Equal(t, anomalyAction.Planned, rec[2].Action)
	assert.Equal(t, "anomaly score 3.0 times the calibrated threshold; driven by PS5", rec[2].Reason)
	assert.Equal(t, actions[actionKey{rig.Pump, rig.FaultLeakage}].Planned, rec[3].Action)
	require.NotNil(t, rec[3].DaysToFailure)
	assert.Equal(t, 20.0, *rec[3].DaysToFailure)
	assert.Nil(t, rec[0].DaysToFailure)
	assert.Equal(t, r.RUL, d.RUL)
	assert.NotSame(t, r.RUL, d.RUL)

	// The diagnosis owns its memory and encodes as JSON.
	r.Sensors[0].Score = 99
	r.Targets[0].Classes[0].P = 99
	assert.NotEqual(t, 99.0, d.Sensors[0].Score)
	assert.NotEqual(t, 99.0, d.Targets[0].Classes[0].P)
	b, err := json.Marshal(d)
	require.NoError(t, err)
	var back diag.Diagnosis
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, d.Recommendations, back.Recommendations)
}

func TestDiagnoseCapsRecommendations(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	missing := []string{"PS3", "PS5", "FS2", "TS1"}
	o := trainedWithout(missing...)
	o.noRUL = true
	m := diagModel(t, si, o)
	w := si.window(t, 2, missing, nil)
	all := map[string]float64{}
	for _, ss := range si.spec.Sensors {
		all[ss.ID] = 6
	}
	r := &Result{
		Health: make([]float64, si.N),
		Targets: targets(si.cfg, map[string][2]float64{"cooler": {3, 0.9}, "valve": {73, 0.9}, "pump": {2, 0.9},
			"accumulator": {90, 0.9}, "stable": {1, 0.9}}),
		Sensors: scores(si, missing, all),
	}
	d, err := m.Diagnose(r, w, time.Millisecond)
	require.NoError(t, err)
	assert.Greater(t, len(d.Anomalies), diag.MaxRecommendations)
	assert.Len(t, d.Recommendations, diag.MaxRecommendations)
	for i := 1; i < len(d.Anomalies); i++ {
		assert.GreaterOrEqual(t, severityRank(d.Anomalies[i-1].Severity), severityRank(d.Anomalies[i].Severity), "most severe first")
	}
	assert.Equal(t, diag.SeverityCritical, d.Recommendations[0].Priority)
	assert.Equal(t, rig.FaultUnstable, d.Anomalies[len(d.Anomalies)-1].Fault, "the flag is info, last")
	assert.Nil(t, d.RUL)
}

func TestDiagnoseWithoutHealthHead(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := diagModel(t, si, bundleOpts{})
	w := si.window(t, 3, nil, nil)
	r := &Result{Targets: targets(si.cfg, map[string][2]float64{"cooler": {20, 0.5}})}
	d, err := m.Diagnose(r, w, 0)
	require.NoError(t, err)
	byID := map[string]diag.ComponentHealth{}
	for _, c := range d.Components {
		byID[c.ID] = c
	}
	// Expected health of the cooler: 0.25·0.03 + 0.5·0.2 + 0.25·1.
	assert.InDelta(t, 0.25*0.03+0.5*0.2+0.25*1, byID["cooler_c1"].Health, 1e-12)
	assert.Equal(t, diag.Critical, byID["cooler_c1"].Status)
	assert.Equal(t, diag.Unknown, byID["tank"].Status, "no head gives the tank a health")
	assert.Zero(t, byID["tank"].Health)
	assert.InDelta(t, 0.3575, d.Health, 1e-12)
	assert.Empty(t, d.Sensors)
}

func TestDiagnoseRefusesAForeignWindow(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := diagModel(t, si, bundleOpts{})
	w := newStandIn(t, loadRig(t, skabConfig)).window(t, 1, nil, nil)
	_, err := m.Diagnose(&Result{}, w, 0)
	require.ErrorIs(t, err, ErrInput)
	_, err = m.Diagnose(nil, w, 0)
	require.Error(t, err)
}

func TestEveryFaultHasARecommendation(t *testing.T) {
	for _, f := range rig.Faults {
		for _, sev := range []diag.Severity{diag.SeverityLow, diag.SeverityCritical} {
			a := actionFor("", f, sev)
			assert.NotEqual(t, anomalyAction.Planned, a, "fault %s has no entry", f)
			assert.NotEqual(t, anomalyAction.Urgent, a, "fault %s has no entry", f)
		}
	}
	for k, a := range actions {
		for _, s := range []string{a.Planned, a.Urgent} {
			assert.True(t, strings.HasSuffix(s, "."), "%v: %q", k, s)
			assert.Less(t, len(s), 200, "%v: keep it short", k)
		}
	}
	assert.Equal(t, actions[actionKey{rig.Pump, rig.FaultLeakage}].Urgent, actionFor(rig.Pump, rig.FaultLeakage, diag.SeverityHigh))
	assert.Equal(t, actions[actionKey{"", rig.FaultLeakage}].Planned, actionFor(rig.Cylinder, rig.FaultLeakage, diag.SeverityMedium))
}

func TestSeverities(t *testing.T) {
	for _, tc := range []struct {
		h    float64
		want diag.Severity
	}{{0.03, diag.SeverityCritical}, {0.1, diag.SeverityCritical}, {0.2, diag.SeverityHigh}, {0.4, diag.SeverityHigh},
		{0.6, diag.SeverityMedium}, {0.7, diag.SeverityLow}, {1, diag.SeverityLow}} {
		assert.Equal(t, tc.want, severityOfHealth(tc.h), "health %v", tc.h)
	}
	for _, tc := range []struct {
		s    float64
		want diag.Severity
	}{{1, diag.SeverityLow}, {1.99, diag.SeverityLow}, {2, diag.SeverityMedium}, {4, diag.SeverityHigh}, {40, diag.SeverityHigh}} {
		assert.Equal(t, tc.want, severityOfScore(tc.s), "score %v", tc.s)
	}
}

func TestReadModelCatchesAFileChangedAfterLoad(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	dir := si.writeBundle(t, bundleOpts{int8: bundle.QuantNone})
	man, err := bundle.Load(dir)
	require.NoError(t, err)
	_, err = readModel(dir, &man.Models[0])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, fp32File), []byte("swapped"), 0o644))
	_, err = readModel(dir, &man.Models[0])
	require.ErrorIs(t, err, bundle.ErrInvalid)
	assert.Contains(t, err.Error(), fp32File+" changed after the bundle was loaded: 7 bytes")
}

// TestAgentDoesNotLinkModels holds the architecture's rule: no non-test
// package of the agent module imports the models module (the training
// stack); only tests may, to build stand-in graphs.
func TestAgentDoesNotLinkModels(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(gobin, "list", "-deps", "github.com/hydrognn/hydrognn/agent/...")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/hydrognn/hydrognn/models") || strings.Contains(dep, "gomlx") {
			t.Errorf("the agent links %s: only tests may import models", dep)
		}
	}
	assert.Contains(t, string(out), "github.com/hydrognn/hydrognn/agent/infer")
}

// A negative remaining-life prediction is clamped to 0: the cloud API
// refuses negative rul hours and days_to_failure.
func TestDiagnoseClampsNegativeRUL(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	m := diagModel(t, si, bundleOpts{})
	w := si.window(t, 1, nil, nil)
	r := &Result{
		Targets: targets(si.cfg, map[string][2]float64{"pump": {1, 0.55}}),
		Sensors: scores(si, nil, map[string]float64{"VS1": 5}),
		RUL:     &diag.RUL{Component: "pump_mp1", P10Hours: -240, P50Hours: -48, P90Hours: 96},
	}
	for _, c := range si.cfg.Components {
		h := 0.9
		if c.ID == "pump_mp1" {
			h = 0.65
		}
		r.Health = append(r.Health, h)
	}
	d, err := m.Diagnose(r, w, 250*time.Microsecond)
	require.NoError(t, err)
	require.NotNil(t, d.RUL)
	assert.Equal(t, diag.RUL{Component: "pump_mp1", P10Hours: 0, P50Hours: 0, P90Hours: 96}, *d.RUL)
	var days *float64
	for _, rec := range d.Recommendations {
		if rec.Component == "pump_mp1" {
			days = rec.DaysToFailure
		}
	}
	require.NotNil(t, days, "the pump's recommendation carries the RUL")
	assert.Equal(t, 0.0, *days)
}

// TestDiagnoseClassHeadWithoutData: a class head's fault on a component
// whose every input sensor is missing is not reported (the head judged
// zero-filled input): the component's status is unknown, the target
// keeps its probabilities, and the missing-sensor finding says the
// target was not judged. A window with no sensor at all judges no target,
// not even a rig-wide one or one on a component without sensors, and
// leaves every status unknown.
func TestDiagnoseClassHeadWithoutData(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	missing := []string{"TS3", "TS4", "CE", "CP"} // every sensor of cooler_c1
	// Trained without them: else no target at all would be judged
	// (TestDiagnoseRequiredSensorMissing).
	m := diagModel(t, si, trainedWithout(missing...))
	w := si.window(t, 4, missing, nil)
	r := &Result{
		Health:  make([]float64, si.N),
		Targets: targets(si.cfg, map[string][2]float64{"cooler": {3, 0.9}, "pump": {2, 0.8}}),
		Sensors: scores(si, missing, nil),
	}
	for i := range r.Health {
		r.Health[i] = 0.9
	}
	d, err := m.Diagnose(r, w, 0)
	require.NoError(t, err)
	var faults []rig.Fault
	for _, a := range d.Anomalies {
		faults = append(faults, a.Fault)
		if a.Fault == rig.FaultSensor {
			assert.Equal(t, []string{"cooler_c1"}, a.Components)
			assert.Equal(t, diag.SeverityMedium, a.Severity)
		}
	}
	assert.Equal(t, []rig.Fault{rig.FaultLeakage, rig.FaultSensor}, faults, "no cooling_loss on a cooler without data")
	require.Len(t, d.Targets, len(si.cfg.Targets))
	assert.Equal(t, "cooler", d.Targets[0].Name)
	assert.InDelta(t, 0.9, d.Targets[0].Classes[d.Targets[0].Predicted].P, 1e-12, "the head's probabilities are kept")
	for _, c := range d.Components {
		if c.ID == "cooler_c1" {
			assert.Equal(t, diag.Unknown, c.Status)
		}
	}
	var reasons []string
	for _, rec := range d.Recommendations {
		if rec.Component == "cooler_c1" {
			reasons = append(reasons, rec.Reason)
		}
	}
	assert.Equal(t, []string{"no data from TS3, TS4, CE, CP in the window; cooler not judged"}, reasons)

	// No sensor at all: nothing judged, every status unknown.
	var all []string
	for _, ss := range si.spec.Sensors {
		all = append(all, ss.ID)
	}
	w = si.window(t, 5, all, nil)
	r.Targets = targets(si.cfg, map[string][2]float64{"cooler": {3, 0.9}, "accumulator": {90, 0.9}, "stable": {1, 0.9}})
	r.Sensors = scores(si, all, nil)
	d, err = m.Diagnose(r, w, 0)
	require.NoError(t, err)
	assert.Equal(t, diag.Unknown, d.Status)
	for _, c := range d.Components {
		assert.Equal(t, diag.Unknown, c.Status, c.ID)
	}
	for _, a := range d.Anomalies {
		assert.Equal(t, rig.FaultSensor, a.Fault, "only missing sensors: %v", a)
	}
}

// TestDiagnoseRequiredSensorMissing: every class target's head reads
// every input sensor's window, so one missing sensor that the model was
// not trained to judge without (a bundle without
// provenance.config.dropout_sensors: every sensor) leaves every class
// target not judged: no class-head fault, the head's probabilities kept,
// and the sensor's finding (medium) says which targets were not judged
// and why. Before, SE missing gave the pump's leakage finding from a head
// that is wrong a third of the time without SE. A sensor missing in more
// than MaxMissingFraction of its window counts as missing, a shorter gap
// does not; a sensor the bundle was trained without does not stop the
// judging.
func TestDiagnoseRequiredSensorMissing(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	pick := map[string][2]float64{"cooler": {3, 0.9}, "pump": {2, 0.8}}
	diagnose := func(m *Model, w *prep.Window, missing []string, health bool) *diag.Diagnosis {
		t.Helper()
		r := &Result{Targets: targets(si.cfg, pick), Sensors: scores(si, missing, nil)}
		if health {
			r.Health = make([]float64, si.N)
			for i := range r.Health {
				r.Health[i] = 0.9
			}
		}
		d, err := m.Diagnose(r, w, 0)
		require.NoError(t, err)
		return d
	}
	faults := func(d *diag.Diagnosis) []rig.Fault {
		var out []rig.Fault
		for _, a := range d.Anomalies {
			out = append(out, a.Fault)
		}
		return out
	}
	reasons := func(d *diag.Diagnosis, comp string) []string {
		var out []string
		for _, rec := range d.Recommendations {
			if rec.Component == comp {
				out = append(out, rec.Reason)
			}
		}
		return out
	}
	status := func(d *diag.Diagnosis, comp string) diag.Status {
		for _, c := range d.Components {
			if c.ID == comp {
				return c.Status
			}
		}
		t.Fatalf("no component %s", comp)
		return ""
	}
	// gap masks the first n cells of sensor id in w.
	gap := func(w *prep.Window, id string, n int) {
		s := si.spec.Index(id)
		for k := s * w.Steps; k < s*w.Steps+n; k++ {
			w.Mask[k], w.Values[k], w.Raw[k] = 0, 0, math.NaN()
		}
		w.Coverage[s] = float64(w.Steps-n) / float64(w.Steps)
		w.Stale = append(w.Stale, id)
	}
	notJudged := "cooler, valve, pump, accumulator, stable, components' health, anomaly scores not judged: the model was not trained to judge without "

	old := diagModel(t, si, bundleOpts{}) // trained before may_drop_out
	missing := []string{"SE"}
	d := diagnose(old, si.window(t, 6, missing, nil), missing, true)
	assert.Equal(t, []rig.Fault{rig.FaultSensor}, faults(d), "no class-head fault while SE is missing")
	assert.Equal(t, diag.SeverityMedium, d.Anomalies[0].Severity)
	assert.Equal(t, []string{"SE"}, d.Anomalies[0].Sensors)
	assert.Equal(t, []string{"no data from SE in the window; " + notJudged + "SE"}, reasons(d, "pump_mp1"))
	require.Len(t, d.Targets, len(si.cfg.Targets))
	assert.InDelta(t, 0.9, d.Targets[0].Classes[d.Targets[0].Predicted].P, 1e-12, "the head's probabilities are kept")
	assert.Equal(t, diag.Unknown, status(d, "pump_mp1"), "the health head reads SE too")

	// Without a health head the health would be the not-judged targets'
	// expected health: unknown.
	d = diagnose(old, si.window(t, 6, missing, nil), missing, false)
	assert.Equal(t, diag.Unknown, status(d, "pump_mp1"))
	assert.Equal(t, diag.Unknown, status(d, "cooler_c1"))

	// More than MaxMissingFraction of the window missing counts as
	// missing; a gap of exactly that much does not.
	w := si.window(t, 7, nil, nil)
	gap(w, "PS1", 16) // 16 of 60 cells: 27 %
	d = diagnose(old, w, nil, true)
	assert.Equal(t, []rig.Fault{rig.FaultSensor}, faults(d))
	assert.Equal(t, []string{"PS1 missing in more than 25 % of the window; " + notJudged + "PS1"}, reasons(d, "pump_mp1"))
	w = si.window(t, 7, nil, nil)
	gap(w, "PS1", 15) // 25 %
	d = diagnose(old, w, nil, true)
	assert.Equal(t, []rig.Fault{rig.FaultCoolingLoss, rig.FaultLeakage}, faults(d), "a masked gap within the limit is judged")

	// A bundle trained without SE judges without it.
	m := diagModel(t, si, trainedWithout("SE"))
	d = diagnose(m, si.window(t, 6, missing, nil), missing, true)
	assert.Equal(t, []rig.Fault{rig.FaultCoolingLoss, rig.FaultLeakage, rig.FaultSensor}, faults(d))
	assert.Equal(t, []string{"no data from SE in the window"}, reasons(d, "pump_mp1")[1:])
	// ... but not without PS1, which it was not trained without.
	missing = []string{"SE", "PS1"}
	d = diagnose(m, si.window(t, 6, missing, nil), missing, true)
	assert.Equal(t, []rig.Fault{rig.FaultSensor}, faults(d))
	assert.Equal(t, []string{"no data from PS1, SE in the window; " + notJudged + "PS1"}, reasons(d, "pump_mp1"))
}

// TestDiagnoseRequiredSensorMissingHealth: the class heads read the
// GNN's node states, which every input sensor feeds (pooling and graph
// attention), so while a required sensor is missing no component's
// health is judged: every status unknown (the rig's too), Health kept as
// the class heads gave it (0 on components without a condition target:
// the health head is never read), and the missing sensor's finding names
// "components' health" among what was not judged, also for a bundle
// without class targets. Before, the health head's status stood (pump healthy while
// SE, which the model never learnt to do without, was zero-filled). A
// bundle trained without SE still judges health without it, and a
// masked gap within MaxMissingFraction leaves health judged.
func TestDiagnoseRequiredSensorMissingHealth(t *testing.T) {
	si := newStandIn(t, loadRig(t, zemaConfig))
	diagnose := func(m *Model, w *prep.Window, missing []string, withTargets bool) *diag.Diagnosis {
		t.Helper()
		r := &Result{Sensors: scores(si, missing, nil), Health: make([]float64, si.N)}
		for i := range r.Health {
			r.Health[i] = 0.9
		}
		if withTargets {
			r.Targets = targets(si.cfg, nil)
		}
		d, err := m.Diagnose(r, w, 0)
		require.NoError(t, err)
		return d
	}
	statuses := func(d *diag.Diagnosis) map[string]diag.Status {
		out := map[string]diag.Status{}
		for _, c := range d.Components {
			out[c.ID] = c.Status
		}
		return out
	}
	all := func(st diag.Status) map[string]diag.Status {
		out := map[string]diag.Status{}
		for _, c := range si.cfg.Components {
			out[c.ID] = st
		}
		return out
	}
	// Components with a condition target: the only ones judged.
	judgedByClass := map[string]bool{}
	for _, tg := range si.cfg.Targets {
		if tg.Kind == rig.TargetCondition {
			judgedByClass[tg.Component] = true
		}
	}
	judgedAll := func(st diag.Status) map[string]diag.Status {
		out := all(diag.Unknown)
		for id := range judgedByClass {
			out[id] = st
		}
		return out
	}
	reason := func(d *diag.Diagnosis, comp string) string {
		for _, rec := range d.Recommendations {
			if rec.Component == comp && rec.Fault == rig.FaultSensor {
				return rec.Reason
			}
		}
		return ""
	}

	old := diagModel(t, si, bundleOpts{}) // trained before may_drop_out
	missing := []string{"SE"}
	d := diagnose(old, si.window(t, 6, missing, nil), missing, true)
	assert.Equal(t, all(diag.Unknown), statuses(d), "no health judged while SE is missing")
	assert.Equal(t, diag.Unknown, d.Status)
	assert.Zero(t, d.Health)
	for _, c := range d.Components {
		want := 0.0
		if judgedByClass[c.ID] {
			want = 1
		}
		assert.InDelta(t, want, c.Health, 1e-12, "the class heads' health is kept: %s", c.ID)
	}
	assert.Equal(t, "no data from SE in the window; cooler, valve, pump, accumulator, stable, components' health, "+
		"anomaly scores not judged: the model was not trained to judge without SE", reason(d, "pump_mp1"))

	// Without class targets the finding still says why.
	d = diagnose(old, si.window(t, 6, missing, nil), missing, false)
	assert.Equal(t, all(diag.Unknown), statuses(d))
	assert.Equal(t, "no data from SE in the window; components' health, anomaly scores not judged: "+
		"the model was not trained to judge without SE", reason(d, "pump_mp1"))

	// A masked gap within the limit leaves health judged.
	w := si.window(t, 7, nil, nil)
	s := si.spec.Index("PS1")
	for k := s * w.Steps; k < s*w.Steps+15; k++ { // 25 %
		w.Mask[k], w.Values[k], w.Raw[k] = 0, 0, math.NaN()
	}
	d = diagnose(old, w, nil, true)
	assert.Equal(t, judgedAll(diag.Healthy), statuses(d))

	// A bundle trained without SE judges health without it.
	m := diagModel(t, si, trainedWithout("SE"))
	d = diagnose(m, si.window(t, 6, missing, nil), missing, true)
	assert.Equal(t, judgedAll(diag.Healthy), statuses(d))
	assert.Equal(t, diag.Healthy, d.Status)
	assert.Equal(t, "no data from SE in the window", reason(d, "pump_mp1"))
}
