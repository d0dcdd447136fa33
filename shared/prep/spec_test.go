package prep

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hydrognn/hydrognn/shared/rig"
)

func TestSpecFromConfig(t *testing.T) {
	cfg := zemaConfig()
	cfg.Sensors = append(cfg.Sensors, rig.Sensor{ID: "SLOW", Kind: rig.KindLevel, Unit: "%", RateHz: 0.1,
		Range: rig.Range{Min: 0, Max: 100}})
	spec, err := SpecFromConfig(cfg, 1, 60)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Sensors) != 18 {
		t.Fatalf("%d sensors, want 17 active + SLOW", len(spec.Sensors))
	}
	var ids []string
	for _, ss := range spec.Sensors {
		ids = append(ids, ss.ID)
	}
	if got := strings.Join(ids, ","); got != "PS1,PS2,PS3,PS4,PS5,PS6,EPS1,FS1,FS2,TS1,TS2,TS3,TS4,VS1,CE,CP,SE,SLOW" {
		t.Errorf("order %s", got)
	}
	if spec.Alignment != AlignCycle || spec.StrideSteps != 0 || spec.MaxHoldSteps != 1 || spec.Rules != Rules {
		t.Errorf("spec %+v", spec)
	}
	ps1 := spec.Sensors[0]
	if ps1.Kind != rig.KindPressure || ps1.Unit != "bar" || ps1.RateHz != 100 || ps1.Range.Max != 200 ||
		ps1.Mean != 0 || ps1.Std != 1 || ps1.MaxHoldSteps != nil {
		t.Errorf("PS1 %+v", ps1)
	}
	if h := spec.Sensors[17].MaxHoldSteps; h == nil || *h != 10 {
		t.Errorf("SLOW hold %v, want 10", h)
	}
	if spec.Index("SLOW") != 17 || spec.Index("OFF") != -1 {
		t.Error("Index")
	}

	cfg.Operation.CycleS = 0
	spec, err = SpecFromConfig(cfg, 1, 30)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Alignment != AlignSliding || spec.StrideSteps != 30 {
		t.Errorf("continuous rig: alignment %q stride %d", spec.Alignment, spec.StrideSteps)
	}
	// 0.3 Hz on a 3 Hz grid: 10 cells, not 11 from rounding.
	cfg.Sensors = []rig.Sensor{{ID: "X", Kind: rig.KindPressure, Unit: "bar", RateHz: 0.3}}
	if spec, err = SpecFromConfig(cfg, 3, 30); err != nil || *spec.Sensors[0].MaxHoldSteps != 10 {
		t.Errorf("hold for 0.3 Hz at 3 Hz: %v %v", spec, err)
	}
}

func TestSpecFromConfigErrors(t *testing.T) {
	long := zemaConfig()
	allOff := zemaConfig()
	for i := range allOff.Sensors {
		allOff.Sensors[i].Inactive = true
	}
	badRate := zemaConfig()
	badRate.Sensors[3].RateHz = 0
	for _, tc := range []struct {
		name  string
		cfg   *rig.Config
		grid  float64
		steps int
		want  string
	}{
		{"nil", nil, 1, 60, "nil rig config"},
		{"no active sensors", allOff, 1, 60, `rig "zema-testrig" has no active sensors`},
		{"window longer than cycle", long, 1, 61, "is longer than the rig's 60 s cycle"},
		{"bad rate", badRate, 1, 60, `sensors[3] "PS4": rate_hz must be finite and > 0, got 0`},
		{"bad grid", long, 0, 60, "grid_hz must be in (0, 1e+06], got 0"},
		{"one step", long, 1, 1, "steps must be at least 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SpecFromConfig(tc.cfg, tc.grid, tc.steps)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidSpec with %q", err, tc.want)
			}
		})
	}
}

func TestSpecValidate(t *testing.T) {
	if err := testSpec().Validate(); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want []string
	}{
		{"rules", func(s *Spec) { s.Rules = "prep/v0" }, []string{`rules "prep/v0" not supported (this build implements "prep/v1")`}},
		{"zero grid", func(s *Spec) { s.GridHz = 0 }, []string{"grid_hz must be in (0, 1e+06], got 0"}},
		{"NaN grid", func(s *Spec) { s.GridHz = math.NaN() }, []string{"grid_hz must be in (0, 1e+06], got NaN"}},
		{"fast grid", func(s *Spec) { s.GridHz = 2e6 }, []string{"got 2e+06"}},
		{"steps", func(s *Spec) { s.Steps = 0 }, []string{"steps must be at least 2 (a window is a model's input sequence), got 0"}},
		{"one step", func(s *Spec) { s.Steps = 1 }, []string{"steps must be at least 2 (a window is a model's input sequence), got 1"}},
		{"long window", func(s *Spec) { s.GridHz, s.Steps = 1e-3, 1e5 }, []string{"lasts 1e+08 s, more than 1e+07 s"}},
		{"too many cells", func(s *Spec) { s.GridHz, s.Steps = 1e6, 1<<23 }, []string{"3 sensors x 8388608 steps exceeds 16777216 cells"}},
		{"alignment", func(s *Spec) { s.Alignment = "tumbling" }, []string{`alignment must be "cycle" or "sliding", got "tumbling"`}},
		{"no alignment", func(s *Spec) { s.Alignment = "" }, []string{`got ""`}},
		{"stride", func(s *Spec) { s.StrideSteps = 0 }, []string{"stride_steps must be at least 1 for sliding alignment, got 0"}},
		{"long stride", func(s *Spec) { s.StrideSteps = 1e8 }, []string{"stride of 100000000 steps at 1 Hz lasts more than 1e+07 s"}},
		{"cycle stride", func(s *Spec) { s.Alignment = AlignCycle }, []string{`stride_steps is only for sliding alignment, got 8 with alignment "cycle"`}},
		{"hold", func(s *Spec) { s.MaxHoldSteps = -1 }, []string{"max_hold_steps must be >= 0, got -1"}},
		{"no sensors", func(s *Spec) { s.Sensors = nil }, []string{"no sensors"}},
		{"empty id", func(s *Spec) { s.Sensors[1].ID = "" }, []string{"sensors[1]: empty id"}},
		{"duplicate id", func(s *Spec) { s.Sensors[2].ID = "A" }, []string{`sensors[2]: duplicate id "A" (also sensors[0])`}},
		{"kind", func(s *Spec) { s.Sensors[0].Kind = "smell" }, []string{`sensors[0] "A": unknown kind "smell"`}},
		{"unit", func(s *Spec) { s.Sensors[0].Unit = "C" }, []string{`sensors[0] "A": unit "C" is not a unit of kind "pressure"`}},
		{"rate", func(s *Spec) { s.Sensors[1].RateHz = -1 }, []string{`sensors[1] "B": rate_hz must be finite and > 0, got -1`}},
		{"inf rate", func(s *Spec) { s.Sensors[1].RateHz = math.Inf(1) }, []string{"got +Inf"}},
		{"range", func(s *Spec) { s.Sensors[0].Range = rig.Range{Min: 5, Max: 1} }, []string{`sensors[0] "A": range must be finite with min <= max, got [5, 1]`}},
		{"mean", func(s *Spec) { s.Sensors[0].Mean = math.NaN() }, []string{`sensors[0] "A": mean must be finite, got NaN`}},
		{"std zero", func(s *Spec) { s.Sensors[0].Std = 0 }, []string{`sensors[0] "A": std must be finite and > 0, got 0`}},
		{"std inf", func(s *Spec) { s.Sensors[0].Std = math.Inf(1) }, []string{"std must be finite and > 0, got +Inf"}},
		{"sensor hold", func(s *Spec) { s.Sensors[2].MaxHoldSteps = intp(-2) }, []string{`sensors[2] "C": max_hold_steps must be >= 0, got -2`}},
		{"several at once", func(s *Spec) { s.Steps = -1; s.Sensors[0].Std = -1 }, []string{"steps must be at least 2 (a window is a model's input sequence), got -1", "std must be finite and > 0, got -1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testSpec()
			tc.edit(&s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v, want %q", err, want)
				}
			}
		})
	}
}

func TestSpecJSON(t *testing.T) {
	spec := testSpec()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"rules":"prep/v1","sensors":[` +
		`{"id":"A","kind":"pressure","unit":"bar","rate_hz":10,"range":{"min":0,"max":200},"mean":0,"std":1},` +
		`{"id":"B","kind":"temperature","unit":"C","rate_hz":1,"mean":0,"std":1},` +
		`{"id":"C","rate_hz":0.25,"mean":0,"std":1,"max_hold_steps":4}],` +
		`"grid_hz":1,"steps":8,"alignment":"sliding","stride_steps":8,"max_hold_steps":1}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	back, err := ParseSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := spec.Digest()
	d2, _ := back.Digest()
	if d1 != d2 {
		t.Errorf("round trip changed the digest: %s != %s", d1, d2)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"unknown field", `{"rules":"prep/v1","grid":1}`, `unknown field "grid"`},
		{"trailing", string(b) + `{}`, "trailing data"},
		{"invalid", `{"rules":"prep/v1"}`, "no sensors"},
		{"not json", `nope`, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSpec([]byte(tc.in))
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSpecDigest(t *testing.T) {
	spec := testSpec()
	d, err := spec.Digest()
	if err != nil {
		t.Fatal(err)
	}
	// Pinned: the SHA-256 of the JSON in TestSpecJSON (sha256sum agrees).
	// A change here changes every bundle's spec digest; it must be
	// deliberate (and usually comes with a new Rules).
	const golden = "sha256:21a954882f269149c3809d35d5cb7bbc5ee6628842c9f2b915f9022d2c9bc501"
	if d != golden {
		t.Errorf("digest %s, want %s", d, golden)
	}
	if d2, _ := spec.Digest(); d2 != d {
		t.Error("digest not stable")
	}
	changed := testSpec()
	changed.Sensors[1].Mean = 1e-12
	if d2, _ := changed.Digest(); d2 == d {
		t.Error("digest ignores a stats change")
	}
	held := testSpec()
	held.Sensors[2].MaxHoldSteps = intp(5)
	if d2, _ := held.Digest(); d2 == d {
		t.Error("digest ignores a hold change")
	}
	bad := testSpec()
	bad.Sensors[0].Std = math.NaN()
	if _, err := bad.Digest(); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("digest of invalid spec: %v", err)
	}
}

func TestSpecCellStart(t *testing.T) {
	s := testSpec()
	if s.CellStart(3) != 3e9 || s.Duration() != 8e9 {
		t.Errorf("1 Hz: %v %v", s.CellStart(3), s.Duration())
	}
	s.GridHz = 1.0 / 3
	if s.CellStart(1) != 3e9 {
		t.Errorf("1/3 Hz: %v", s.CellStart(1))
	}
}
