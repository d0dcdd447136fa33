package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hydrognn/hydrognn/shared/rig"
)

const configDir = "../../../firmware-configs"

func loadConfig(t testing.TB, name string) *rig.Config {
	t.Helper()
	cfg, err := rig.Load(filepath.Join(configDir, name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return cfg
}

func TestParseBad(t *testing.T) {
	want := map[string]string{
		"alias":               ":2:5: YAML anchors and aliases are not allowed",
		"bad-duration":        `from/to: time: invalid duration "ten minutes"`,
		"bad-unit":            `faults[0].unit: "psi" is not a pre-charge unit`,
		"component-on-sensor": `faults[0].component: missing: leakage needs the id of a component`,
		"cycles-and-time":     "faults[0].cycles: give either cycles or from/to, not both",
		"cycles-long":         "faults[0].cycles: [1 2 3]: want [first] or [first, last]",
		"cycles-order":        "faults[0].cycles: [5 3]: last cycle before first",
		"cycles-zero":         "faults[0].cycles: [0 3]: cycle numbers start at 1",
		"dropout-value":       "faults[0].value: 5 not allowed for sensor_dropout",
		"empty":               "file is empty",
		"leak-range":          "faults[0].value: -1 out of range for leakage: want a grade in [0, 10]",
		"missing-faults":      `:1:1: faultz: unknown key "faultz" (a scenario has one key, faults)`,
		"missing-value":       "faults[0].value: missing: cooler_efficiency needs a value",
		"not-a-list":          "mapping was used where sequence is expected",
		"rate-not-allowed":    "faults[0].rate_hz: 2 not allowed",
		"sensor-on-component": "faults[0].sensor: missing: sensor_drift needs the id of a sensor",
		"spikes-rate":         "faults[0].rate_hz: 0: sensor_spikes needs a spike rate",
		"to-before-from":      "faults[0].to: 5m0s: want a time after from (10m0s)",
		"two-docs":            "exactly one YAML document",
		"unit-not-allowed":    `faults[0].unit: "bar" not allowed: only accumulator_precharge takes a unit`,
		"unknown-key":         `:2:52: faults[0].severity: unknown key "severity"`,
		"unknown-kind":        `faults[0].kind: "leaky" is not a fault kind; want one of cooler_efficiency`,
		"value-range":         "faults[0].value: 120 out of range for cooler_efficiency: want (0, 100] %",
		"wrong-type":          `faults[0].value: "high" is not a float64`,
	}
	files, err := filepath.Glob("testdata/*.bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(want) {
		t.Errorf("%d bad files, %d expectations", len(files), len(want))
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".bad.yaml")
		t.Run(name, func(t *testing.T) {
			sub, ok := want[name]
			if !ok {
				t.Fatalf("no expected message for %s", path)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded", path)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not match ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), sub) {
				t.Errorf("error %q does not contain %q", err, sub)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestParsePositions(t *testing.T) {
	_, err := Load("testdata/cycles-order.bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "cycles-order.bad.yaml:2:") {
		t.Fatalf("want file:line in %v", err)
	}
}

func TestParseGood(t *testing.T) {
	s, err := Load("testdata/zema-mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faults) != 12 {
		t.Fatalf("%d faults", len(s.Faults))
	}
	if f := s.Faults[2]; f.From != 10*time.Minute || f.To != 20*time.Minute {
		t.Errorf("from/to = %v/%v", f.From, f.To)
	}
	if err := s.Validate(loadConfig(t, "zema-testrig.yaml")); err != nil {
		t.Fatal(err)
	}
	// Marshal round trip.
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := Parse("marshalled", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	d2, _ := s2.Marshal()
	if string(d2) != string(data) {
		t.Errorf("round trip differs:\n%s\n%s", data, d2)
	}
}

func TestActive(t *testing.T) {
	v := 1.0
	cases := []struct {
		f     Fault
		cycle int
		at    time.Duration
		want  bool
	}{
		{Fault{Value: &v, Cycles: []int{3, 5}}, 2, 0, false},
		{Fault{Value: &v, Cycles: []int{3, 5}}, 3, 0, true},
		{Fault{Value: &v, Cycles: []int{3, 5}}, 5, 0, true},
		{Fault{Value: &v, Cycles: []int{3, 5}}, 6, 0, false},
		{Fault{Value: &v, Cycles: []int{3}}, 1000, 0, true},
		{Fault{Value: &v, From: time.Minute, To: 2 * time.Minute}, 1, time.Minute, true},
		{Fault{Value: &v, From: time.Minute, To: 2 * time.Minute}, 1, 2 * time.Minute, false},
		{Fault{Value: &v, From: time.Minute}, 1, time.Hour, true},
		{Fault{Value: &v}, 1, 0, true},
	}
	for i, c := range cases {
		if got := c.f.Active(c.cycle, c.at); got != c.want {
			t.Errorf("case %d: Active(%d, %v) = %v", i, c.cycle, c.at, got)
		}
	}
}

func TestValidateBad(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	exc := loadConfig(t, "excavator.yaml")
	cases := []struct {
		name string
		cfg  *rig.Config
		yaml string
		want string
	}{
		{"unknown component", cfg, `faults: [{kind: leakage, component: pump9, value: 1}]`,
			`faults[0].component: "pump9" is not a component of rig zema-testrig`},
		{"wrong type", cfg, `faults: [{kind: cooler_efficiency, component: pump_mp1, value: 20}]`,
			`"pump_mp1" is a pump; cooler_efficiency applies to [heat_exchanger]`},
		{"not a class", cfg, `faults: [{kind: cooler_efficiency, component: cooler_c1, value: 50}]`,
			`faults[0].value: 50 is not a class of target "cooler"; want one of [3 20 100]`},
		{"leak not a class", cfg, `faults: [{kind: leakage, component: pump_mp1, value: 1.5}]`,
			`1.5 is not a class of target "pump"`},
		{"precharge unit", cfg, `faults: [{kind: accumulator_precharge, component: accumulator_a1, value: 90, unit: "%"}]`,
			`faults[0].unit: "%" but target "accumulator" is in "bar"`},
		{"precharge pct class", exc, `faults: [{kind: accumulator_precharge, component: accumulator, value: 90}]`,
			`90 is not a class of target "accumulator"; want one of [69 77 88 100]`},
		{"unknown sensor", cfg, `faults: [{kind: sensor_offset, sensor: PS9, value: 1}]`,
			`faults[0].sensor: "PS9" is not a sensor of rig zema-testrig`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Parse(c.name, []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate = %v, want %q", err, c.want)
			}
		})
	}
	// Values off the classes are fine where no target describes the
	// component (the cooling pump MP2 has none).
	s, err := Parse("ok", []byte(`faults: [{kind: leakage, component: pump_mp2, value: 1.5}]`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestTargetKind(t *testing.T) {
	for _, c := range []struct {
		file string
		want map[string]Kind
	}{
		{"zema-testrig.yaml", map[string]Kind{"cooler": CoolerEfficiency, "valve": ValveCondition,
			"pump": Leakage, "accumulator": AccumulatorPrecharge}},
		{"excavator.yaml", map[string]Kind{"cooler": CoolerEfficiency, "valve": ValveCondition,
			"pump": Leakage, "accumulator": AccumulatorPrecharge, "filter": FilterClogging}},
	} {
		cfg := loadConfig(t, c.file)
		for name, want := range c.want {
			k, err := TargetKind(cfg, cfg.Target(name))
			if err != nil || k != want {
				t.Errorf("%s %s: %v %v, want %v", c.file, name, k, err, want)
			}
		}
	}
}

func TestRandom(t *testing.T) {
	cfg := loadConfig(t, "zema-testrig.yaml")
	opts := RandomOptions{Cycles: 500, Seed: 42}
	a, err := Random(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Random(cfg, opts)
	da, _ := a.Marshal()
	db, _ := b.Marshal()
	if string(da) != string(db) {
		t.Fatal("same seed, different scenarios")
	}
	opts.Seed = 43
	c, _ := Random(cfg, opts)
	if dc, _ := c.Marshal(); string(dc) == string(da) {
		t.Fatal("different seeds, same scenario")
	}
	if err := a.Validate(cfg); err != nil {
		t.Fatalf("random scenario invalid: %v", err)
	}
	// Every cycle of every condition target is covered exactly once, and
	// runs change at least one target.
	cover := map[string][]int{}
	for _, f := range a.Faults {
		if len(f.Cycles) != 2 {
			t.Fatalf("fault without a cycle range: %+v", f)
		}
		if cover[f.Component] == nil {
			cover[f.Component] = make([]int, opts.Cycles+1)
		}
		for c := f.Cycles[0]; c <= f.Cycles[1]; c++ {
			cover[f.Component][c]++
		}
	}
	if len(cover) != 4 {
		t.Fatalf("targets covered: %v", len(cover))
	}
	for comp, cs := range cover {
		for c := 1; c <= opts.Cycles; c++ {
			if cs[c] != 1 {
				t.Fatalf("%s cycle %d covered %d times", comp, c, cs[c])
			}
		}
	}
	// Round trip through the file format keeps it.
	s2, err := Parse("random", da)
	if err != nil {
		t.Fatal(err)
	}
	if d2, _ := s2.Marshal(); string(d2) != string(da) {
		t.Fatal("random scenario does not survive Marshal/Parse")
	}
}

func TestRandomNoTargets(t *testing.T) {
	cfg := loadConfig(t, "skab-testbed.yaml")
	_, err := Random(cfg, RandomOptions{Cycles: 10})
	if err == nil || !strings.Contains(err.Error(), "no condition target") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("faults: [{kind: leakage, component: a, value: 1, cycles: [1]}]"))
	cfg, err := rig.Load(filepath.Join(configDir, "zema-testrig.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not match ErrInvalid: %v", err)
			}
			return
		}
		_ = s.Validate(cfg)
		out, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Parse("again", out)
		if err != nil {
			t.Fatalf("marshalled scenario does not parse: %v\n%s", err, out)
		}
		if len(s2.Faults) != len(s.Faults) {
			t.Fatalf("round trip changed the number of faults")
		}
	})
}
