package sim

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/dataset/uci"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
	"github.com/hydrognn/hydrognn/tools/internal/scenario"
)

// TestShippedConfigs simulates every shipped firmware config: sensors
// within their ranges, no NaN, every sensor produced.
func TestShippedConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(configDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			c := healthy(t, name, 7, 1)[0]
			for i, sn := range cfg.ActiveSensors() {
				row := c.Samples[i]
				if want := int(math.Round(sn.RateHz * windowOf(cfg))); len(row) != want {
					t.Errorf("%s: %d samples, want %d", sn.ID, len(row), want)
				}
				for _, v := range row {
					if math.IsNaN(v) || v < sn.Range.Min || v > sn.Range.Max {
						t.Fatalf("%s: sample %v outside [%v, %v]", sn.ID, v, sn.Range.Min, sn.Range.Max)
					}
				}
			}
		})
	}
}

func windowOf(cfg *rig.Config) float64 {
	if cfg.Operation.CycleS > 0 {
		return cfg.Operation.CycleS
	}
	return DefaultWindowS
}

// TestZeMAProfile checks the healthy ZeMA cycle against the ranges of the
// real rig (the UCI data's per-step means, see docs/simulator.md).
func TestZeMAProfile(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	c := healthy(t, "zema-testrig.yaml", 7, 1)[0]
	sensors := cfg.ActiveSensors()
	check := func(id string, from, to, lo, hi float64) {
		t.Helper()
		i := sensorIndex(t, cfg, id)
		m := windowMean(c, i, sensors[i].RateHz, from, to)
		if m < lo || m > hi {
			t.Errorf("%s %g-%g s: mean %.4g, want %g..%g", id, from, to, m, lo, hi)
		}
	}
	check("PS1", 1, 9, 185, 195)   // against the relief while V10 is closed
	check("PS1", 10, 19, 138, 150) // 144 in the data
	check("PS1", 30, 39, 158, 172) // 167
	check("PS2", 1, 9, 0, 2)       // vented
	check("PS2", 10, 19, 115, 123) // 118
	check("PS2", 30, 39, 138, 146) // 142
	check("EPS1", 1, 9, 2700, 3100)
	check("EPS1", 10, 19, 2100, 2450)
	// The healthy pump's load flow and efficiency factor: 7.9 l/min and
	// 68 % in the data; 5.4 cm³ gave 7.6 and 66.7, which the ZeMA bundle
	// read as weak leakage.
	check("FS1", 10, 19, 7.7, 8.2)
	check("SE", 10, 19, 67.2, 69.5)
	check("FS2", 0, 0, 9, 10.5)
	check("PS5", 0, 0, 8.5, 10.5)
	check("TS1", 0, 0, 32, 40)   // 36 at cooler 100 %
	check("CE", 0, 0, 40, 52)    // 47
	check("CP", 0, 0, 1.4, 2.6)  // 2.2
	check("VS1", 0, 0, 0.4, 0.8) // 0.55-0.69
	check("SE", 30, 39, 55, 75)  // 62
	// PS3 is V10's return line (0 while V10 is closed, 2.3-2.4 bar under
	// load in the healthy real cycles), PS4 the cooling circuit ahead of F1
	// (a flat 10.0 bar, 0.1-0.2 above PS5); the config's placement read
	// 0.02 bar at V11's tank port and 0-2.3 bar at V10's return port
	// (docs/simulator.md, "PS3/PS4").
	check("PS3", 1, 9, 0, 0.2)
	check("PS3", 10, 19, 1.8, 2.8)
	check("PS3", 30, 39, 1.8, 2.8)
	check("PS4", 1, 9, 9, 10.5)
	check("PS4", 30, 39, 9, 10.5)
	// The cycle starts before the controller switches (program_delay_s
	// 0.35) and the healthy V10 opens over 0.45 s (switch_time_ms 450): in
	// the real healthy cycles PS1's first second averages 175 bar and the
	// second from 9 s 176 bar; without them they read 190 and 147 bar.
	check("PS1", 0, 1, 168, 182)
	check("PS1", 9, 10, 168, 184)
	check("PS1", 19, 20, 150, 156) // 154.4, a step at 19.2 s
}

// TestSensorFaults checks that each sensor fault changes its sensor as
// specified and leaves every other sensor bit-identical.
func TestSensorFaults(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	base := healthy(t, "zema-testrig.yaml", 7, 1)[0]
	cases := []struct {
		fault scenario.Fault
		check func(t *testing.T, got, want []float64)
	}{
		{scenario.Fault{Kind: scenario.SensorOffset, Sensor: "PS1", Value: val(5)}, func(t *testing.T, got, want []float64) {
			for j := range got {
				if math.Abs(got[j]-want[j]-5) > 0.011 && got[j] < 250 {
					t.Fatalf("sample %d: %v, healthy %v: want +5", j, got[j], want[j])
				}
			}
		}},
		{scenario.Fault{Kind: scenario.SensorDrift, Sensor: "TS1", Value: val(60)}, func(t *testing.T, got, want []float64) {
			// 60 K per hour: 1 K per minute, from 0 at the start.
			for _, j := range []int{0, 30, 59} {
				if d := got[j] - want[j]; math.Abs(d-float64(j)/60) > 0.011 {
					t.Errorf("sample %d: drift %.3f, want %.3f", j, d, float64(j)/60)
				}
			}
		}},
		{scenario.Fault{Kind: scenario.SensorStuck, Sensor: "FS1"}, func(t *testing.T, got, _ []float64) {
			for j := range got {
				if got[j] != got[0] {
					t.Fatalf("sample %d: %v, want stuck at %v", j, got[j], got[0])
				}
			}
		}},
		{scenario.Fault{Kind: scenario.SensorStuck, Sensor: "FS2", Value: val(3.5)}, func(t *testing.T, got, _ []float64) {
			for j := range got {
				if got[j] != 3.5 {
					t.Fatalf("sample %d: %v, want 3.5", j, got[j])
				}
			}
		}},
		{scenario.Fault{Kind: scenario.SensorDropout, Sensor: "VS1"}, func(t *testing.T, got, _ []float64) {
			for j := range got {
				if !math.IsNaN(got[j]) {
					t.Fatalf("sample %d: %v, want NaN (no sample)", j, got[j])
				}
			}
		}},
		{scenario.Fault{Kind: scenario.SensorSpikes, Sensor: "PS2", Value: val(50), RateHz: 1}, func(t *testing.T, got, want []float64) {
			n := 0
			for j := range got {
				if math.Abs(got[j]-want[j]) > 25 {
					n++
				}
			}
			// Poisson with mean 60 over the cycle.
			if n < 35 || n > 90 {
				t.Errorf("%d spikes in 60 s at 1 Hz", n)
			}
		}},
	}
	for _, c := range cases {
		t.Run(string(c.fault.Kind)+"/"+c.fault.Sensor, func(t *testing.T) {
			got := run(t, cfg, 7, 1, c.fault)[0]
			k := sensorIndex(t, cfg, c.fault.Sensor)
			for i, sn := range cfg.ActiveSensors() {
				if i == k {
					c.check(t, got.Samples[i], base.Samples[i])
					continue
				}
				if !slices.Equal(got.Samples[i], base.Samples[i]) {
					t.Errorf("%s changed, but the fault is on %s", sn.ID, c.fault.Sensor)
				}
			}
			if !slices.Equal(got.Labels, base.Labels) {
				t.Errorf("labels %v, healthy %v: sensor faults are not component conditions", got.Labels, base.Labels)
			}
		})
	}
}

// TestDeterminism: the same seed gives byte-identical data set files,
// another seed different ones.
func TestDeterminism(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	sc, err := scenario.Random(cfg, scenario.RandomOptions{Cycles: 3, Seed: 5, MinRun: 1, MaxRun: 2})
	if err != nil {
		t.Fatal(err)
	}
	write := func(seed uint64) map[string][]byte {
		s, err := New(cfg, Options{Seed: seed, Scenario: sc, WarmupCycles: 3, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		set, err := s.Dataset(context.Background(), DatasetOptions{Cycles: 3})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := uci.Write(dir, set); err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			files[e.Name()] = b
		}
		return files
	}
	a, b, c := write(11), write(11), write(12)
	if len(a) != 19 {
		t.Fatalf("%d files, want 17 sensors, profile and cycles", len(a))
	}
	for name, data := range a {
		if !bytes.Equal(data, b[name]) {
			t.Errorf("%s differs between two runs with the same seed", name)
		}
	}
	if bytes.Equal(a["PS1.txt"], c["PS1.txt"]) {
		t.Error("PS1.txt is the same for seeds 11 and 12")
	}
	if !bytes.Equal(a["profile.txt"], c["profile.txt"]) {
		t.Error("labels depend on the seed; they must follow the scenario only")
	}
}

// TestDatasetRoundTrip writes a native-rate and a 1 Hz data set and reads
// them back through shared/dataset/uci.
func TestDatasetRoundTrip(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	for _, grid := range []float64{0, 1} {
		s, err := New(cfg, Options{Seed: 3, WarmupCycles: -1, Logger: quiet(),
			Scenario: &scenario.Scenario{Faults: []scenario.Fault{
				{Kind: scenario.CoolerEfficiency, Component: "cooler_c1", Value: val(20), Cycles: []int{2}},
				{Kind: scenario.SensorDropout, Sensor: "TS2", Cycles: []int{1, 1}},
			}}})
		if err != nil {
			t.Fatal(err)
		}
		calls := 0
		set, err := s.Dataset(context.Background(), DatasetOptions{Cycles: 2, GridHz: grid, Progress: func(done, total int) {
			calls++
			if done != calls || total != 2 {
				t.Errorf("progress %d/%d at call %d", done, total, calls)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := uci.Write(dir, set); err != nil {
			t.Fatal(err)
		}
		back, err := uci.Read(dir, set.Sensors, len(cfg.Targets))
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range set.Sensors {
			want := 60 * cfg.Sensor(id).RateHz
			if grid > 0 {
				want = 60
			}
			if got := back.Samples(i); float64(got) != want {
				t.Errorf("grid %v: %s has %d samples per cycle, want %v", grid, id, got, want)
			}
			for c := range set.Data[i] {
				if !slices.Equal(back.Data[i][c], set.Data[i][c]) {
					t.Fatalf("grid %v: %s cycle %d differs after the round trip", grid, id, c)
				}
			}
		}
		if !slices.Equal(back.CycleIDs, []int{1, 2}) {
			t.Errorf("cycle ids %v", back.CycleIDs)
		}
		if back.Profile[0][0] != 100 || back.Profile[1][0] != 20 {
			t.Errorf("cooler labels %v, %v; want 100 then 20", back.Profile[0], back.Profile[1])
		}
		if grid == 1 {
			// The 1 Hz grid holds block means of the native samples.
			native, err := New(cfg, Options{Seed: 3, WarmupCycles: -1, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			nset, err := native.Dataset(context.Background(), DatasetOptions{Cycles: 1})
			if err != nil {
				t.Fatal(err)
			}
			ps1 := nset.Sensor("PS1")[0]
			mean := 0.0
			for _, v := range ps1[100:200] {
				mean += v / 100
			}
			if got := set.Sensor("PS1")[0][1]; math.Abs(got-mean) > 1e-9 {
				t.Errorf("1 Hz PS1 second 1 = %v, mean of its 100 samples %v", got, mean)
			}
		}
	}
}

// TestLabels runs a random UCI-like scenario: the labels follow it, are
// class values, and the stable flag marks the cycles after each change.
func TestLabels(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	const n = 8
	sc, err := scenario.Random(cfg, scenario.RandomOptions{Cycles: n, Seed: 2, MinRun: 2, MaxRun: 4})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, Options{Seed: 1, Scenario: sc, WarmupCycles: -1, StableDriftK: 100, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	var cycles []*Cycle
	if err := s.Cycles(context.Background(), n, func(c *Cycle) error { cycles = append(cycles, c); return nil }); err != nil {
		t.Fatal(err)
	}
	stable := len(cfg.Targets) - 1
	lastChange := 1
	for ci, c := range cycles {
		for ti, tg := range cfg.Targets {
			if tg.ClassIndex(c.Labels[ti]) < 0 {
				t.Errorf("cycle %d target %s: %v is not a class", c.Index, tg.Name, c.Labels[ti])
			}
			if tg.Kind != rig.TargetCondition {
				continue
			}
			want := math.NaN()
			for _, f := range sc.Faults {
				if f.Component == tg.Component && f.Active(c.Index, 0) {
					want = *f.Value
				}
			}
			if c.Labels[ti] != want {
				t.Errorf("cycle %d target %s: %v, scenario says %v", c.Index, tg.Name, c.Labels[ti], want)
			}
		}
		if ci > 0 && !slices.Equal(c.Labels[:stable], cycles[ci-1].Labels[:stable]) {
			lastChange = c.Index
		}
		want := 0.0
		if ci > 0 && c.Index-lastChange < DefaultStableCycles && lastChange > 1 {
			want = 1
		}
		if c.Labels[stable] != want {
			t.Errorf("cycle %d: stable flag %v, want %v (last change at %d)", c.Index, c.Labels[stable], want, lastChange)
		}
	}
}

// TestStream checks the reading stream: time order, per-sensor sequence
// numbers, counts, and the same values as Cycles gives for the same seed.
func TestStream(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	faults := []scenario.Fault{{Kind: scenario.SensorDropout, Sensor: "TS1", From: 10 * time.Second, To: 20 * time.Second}}
	s, err := New(cfg, Options{Seed: 9, WarmupCycles: -1, Duration: 60 * time.Second, Logger: quiet(),
		Scenario: &scenario.Scenario{Faults: faults}})
	if err != nil {
		t.Fatal(err)
	}
	var all []reading.Reading
	batches := 0
	last := time.Time{}
	err = s.Stream(context.Background(), start, func(b []reading.Reading) error {
		batches++
		for i, r := range b {
			if r.Time.Before(last) || i > 0 && r.Time.Before(b[i-1].Time) {
				t.Fatalf("reading %s at %v before %v", r.Sensor, r.Time, last)
			}
			last = r.Time
		}
		all = append(all, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if batches != 6000 {
		t.Errorf("%d batches, want one per 10 ms", batches)
	}
	s2, _ := New(cfg, Options{Seed: 9, WarmupCycles: -1, Logger: quiet(), Scenario: &scenario.Scenario{Faults: faults}})
	var cy *Cycle
	if err := s2.Cycles(context.Background(), 1, func(c *Cycle) error { cy = c; return nil }); err != nil {
		t.Fatal(err)
	}
	seq := map[string]uint64{}
	per := map[string][]float64{}
	for _, r := range all {
		seq[r.Sensor]++
		if r.Seq != seq[r.Sensor] {
			t.Fatalf("%s: seq %d, want %d", r.Sensor, r.Seq, seq[r.Sensor])
		}
		per[r.Sensor] = append(per[r.Sensor], r.Value)
	}
	for i, sn := range cfg.ActiveSensors() {
		want := slices.DeleteFunc(slices.Clone(cy.Samples[i]), math.IsNaN)
		if !slices.Equal(per[sn.ID], want) {
			t.Errorf("%s: stream and Cycles differ (%d and %d values)", sn.ID, len(per[sn.ID]), len(want))
		}
	}
	if got := len(per["TS1"]); got != 50 {
		t.Errorf("TS1: %d readings, want 50 (10 s dropout)", got)
	}
	if got := len(per["PS1"]); got != 6000 {
		t.Errorf("PS1: %d readings, want 6000", got)
	}
	// Timestamps are exact multiples of the sensor period from start.
	for _, r := range all {
		if r.Sensor == "FS1" && r.Time.Sub(start)%(100*time.Millisecond) != 0 {
			t.Fatalf("FS1 at %v", r.Time.Sub(start))
		}
	}
}

func TestStreamStops(t *testing.T) {
	cfg := loadConfig(t, "skab-testbed.yaml")
	s, err := New(cfg, Options{Seed: 1, WarmupCycles: -1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = s.Stream(ctx, time.Unix(0, 0), func([]reading.Reading) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	boom := errors.New("broker gone")
	s2, _ := New(cfg, Options{Seed: 1, WarmupCycles: -1, Logger: quiet()})
	if err := s2.Stream(context.Background(), time.Unix(0, 0), func([]reading.Reading) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the emit error", err)
	}
}

// TestConfigErrors: what the simulator cannot do fails New with a message
// naming the culprit.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name   string
		modify func(c *rig.Config)
		want   string
	}{
		{"humidity sensor", func(c *rig.Config) {
			c.Sensors = append(c.Sensors, rig.Sensor{ID: "RH1", Kind: rig.KindHumidity, Unit: "%RH", RateHz: 1,
				Range: rig.Range{Min: 0, Max: 100}, Component: "tank", MQTT: c.Sensors[0].MQTT})
		}, "sensor RH1 (humidity at reservoir tank): the simulator cannot produce humidity on a reservoir"},
		{"pressure at the return port of a filter", func(c *rig.Config) { c.Sensors[4].Port = rig.PortReturn },
			`sensor PS5 (pressure at filter filter_f1): the simulator cannot produce pressure at port "return" of a filter`},
		{"sensor faster than the step", func(c *rig.Config) { c.Sensors[0].RateHz = 5000 },
			"sensor PS1: rate 5000 Hz; the simulator steps at 1000 Hz"},
		{"unknown flag target", func(c *rig.Config) { c.Targets[4].Name = "wet" },
			"target wet: flag targets the simulator labels are stable, anomaly and changepoint"},
		{"healthy value not a class", func(c *rig.Config) { c.Targets[3].Classes[3].Value = 140 },
			"target accumulator: the healthy accumulator_precharge of accumulator_a1 is 130, not one of its classes"},
		{"no pump", func(c *rig.Config) {
			for i := range c.Components {
				if c.Components[i].Type == rig.Pump {
					c.Components[i].Type = rig.Manifold
				}
			}
			c.Targets = c.Targets[:2]
			c.Sensors = slices.DeleteFunc(c.Sensors, func(s rig.Sensor) bool {
				return s.Component == "pump_mp1" || s.Component == "pump_mp2"
			})
		}, "has no pump"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := cloneConfig(t, "zema-testrig.yaml")
			c.modify(cfg)
			_, err := New(cfg, Options{Logger: quiet()})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %q", err, c.want)
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig")
			}
		})
	}
	// A scenario that does not fit the config.
	cfg := loadConfig(t, "zema-testrig.yaml")
	_, err := New(cfg, Options{Logger: quiet(), Scenario: &scenario.Scenario{Faults: []scenario.Fault{
		{Kind: scenario.CoolerEfficiency, Component: "cooler_c1", Value: val(50)}}}})
	if err == nil || !strings.Contains(err.Error(), "50 is not a class") {
		t.Fatalf("err = %v", err)
	}
}

func TestCalibration(t *testing.T) {
	for _, rt := range []string{"zema-testrig", "skab-testbed"} {
		if _, ok := Builtin(rt); !ok {
			t.Errorf("built-in calibration %s does not parse", rt)
		}
	}
	bad := []struct{ yaml, want string }{
		{"rig_type: x\ncomponents: {p: {displacement_cc: -1}}", "components.p.displacement_cc: -1; want a finite number > 0"},
		{"rig_type: x\ncomponents: {p: {efficiency: 1.5}}", "want a fraction in (0, 1]"},
		{"rig_type: x\ncomponents: {p: {control: turbo}}", `control: "turbo"`},
		{"rig_type: x\ncomponents: {p: {wobble: 1}}", "unknown field"},
		{"components: {}", "rig_type: missing"},
		{"rig_type: x\nplant: &a {ambient_ua_w_k: 1}", "anchors and aliases"},
		{"", "file is empty"},
	}
	for _, b := range bad {
		_, err := ParseCalibration("c.yaml", []byte(b.yaml))
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%q: err = %v, want %q", b.yaml, err, b.want)
		}
	}
	cal, err := ParseCalibration("c.yaml", []byte("rig_type: zema-testrig\ncomponents: {pump_9: {efficiency: 0.9}}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(loadConfig(t, "zema-testrig.yaml"), Options{Calibration: cal, Logger: quiet()})
	if err == nil || !strings.Contains(err.Error(), "components.pump_9: no such component") {
		t.Fatalf("err = %v", err)
	}
	cal, err = ParseCalibration("c.yaml", []byte("rig_type: zema-testrig\nsensors: {PS9: {component: tank}, PS3: {component: pump_9, port: out}}"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(loadConfig(t, "zema-testrig.yaml"), Options{Calibration: cal, Logger: quiet()})
	for _, want := range []string{"sensors.PS9: no such sensor", `sensors.PS3.component: no such component "pump_9"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
	// The built-in ZeMA calibration (which moves PS3 and PS4) binds to
	// the shipped config.
	zema, _ := Builtin("zema-testrig")
	if _, err := New(loadConfig(t, "zema-testrig.yaml"), Options{Calibration: zema, Logger: quiet()}); err != nil {
		t.Errorf("built-in zema-testrig calibration: %v", err)
	}
	// A sensor override's port is checked as the config's own sensor
	// ports are (rig.CheckSensorPort), and against the sensor's kind, with
	// the calibration key named.
	for _, b := range []struct{ point, want string }{
		{"{component: valve_v10, port: top}", `calibration: sensors.PS3.port: "top" is not a port`},
		{"{component: valve_v10, port: gas}", `calibration: sensors.PS3.port: "gas" is only valid on an accumulator, "valve_v10" is a valve`},
		{"{component: valve_v10}", `calibration: sensors.PS3.port: valve valve_v10: the simulator cannot produce pressure at port ""`},
	} {
		cal, err = ParseCalibration("c.yaml", []byte("rig_type: zema-testrig\nsensors: {PS3: "+b.point+"}"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(loadConfig(t, "zema-testrig.yaml"), Options{Calibration: cal, Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("PS3: %s: err = %v, want %q", b.point, err, b.want)
		}
	}
	// An override of a sensor the simulator does not simulate (inactive)
	// is refused rather than ignored.
	cfg := *loadConfig(t, "zema-testrig.yaml")
	cfg.Sensors = slices.Clone(cfg.Sensors)
	cfg.Sensor("PS3").Inactive = true
	cfg.Sensor("PS3").MayDropOut = false
	_, err = New(&cfg, Options{Calibration: zema, Logger: quiet()})
	if want := "calibration: sensors.PS3: the sensor is inactive in rig zema-testrig and not simulated"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("override of inactive PS3: err = %v, want %q", err, want)
	}
	// A program delay must fall within the rig's cycle.
	for _, delay := range []string{"60", "75"} {
		cal, err = ParseCalibration("c.yaml", []byte("rig_type: zema-testrig\nplant: {program_delay_s: "+delay+"}"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(loadConfig(t, "zema-testrig.yaml"), Options{Calibration: cal, Logger: quiet()})
		if err == nil || !strings.Contains(err.Error(), "plant.program_delay_s: "+delay+" s; want less than rig zema-testrig's 60 s cycle") {
			t.Errorf("program_delay_s %s: err = %v", delay, err)
		}
	}
}

func FuzzParseCalibration(f *testing.F) {
	data, _ := builtinFS.ReadFile("calib/zema-testrig.yaml")
	f.Add(data)
	f.Add([]byte("rig_type: x\nplant: {ambient_ua_w_k: 3}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCalibration("fuzz", b)
		if err == nil && c.RigType == "" {
			t.Fatal("accepted a calibration without rig_type")
		}
	})
}
