package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/hydrognn/hydrognn/shared/confyaml"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Limits of a scenario file.
const (
	// MaxFileSize caps a scenario file (1 MiB); a larger one is refused
	// before it is parsed.
	MaxFileSize = confyaml.MaxFileSize
	// MaxFaults caps the number of entries.
	MaxFaults = 100000
	// MaxCycle is the largest cycle number a range may name.
	MaxCycle = 100_000_000
)

// ErrInvalid is matched by errors.Is on every error Parse, Load and
// Validate return for a bad scenario (as opposed to an unreadable file).
var ErrInvalid = errors.New("invalid scenario")

// Kind is the kind of a fault.
type Kind string

// Component conditions. The zero state of each (no entry active) is the
// healthy value given here.
const (
	// CoolerEfficiency is a heat exchanger's efficiency in % (0, 100],
	// healthy 100 (the UCI grades are 100, 20 and 3): it scales the
	// forced-convection part of the cooler's heat transfer.
	CoolerEfficiency Kind = "cooler_efficiency"
	// ValveCondition is a switching valve's condition in % (0, 100],
	// healthy 100 (UCI grades 100, 90, 80, 73): lower is slower and
	// incomplete switching.
	ValveCondition Kind = "valve_condition"
	// Leakage is the internal leakage grade of a pump, hydraulic motor or
	// cylinder in [0, 10], healthy 0 (UCI grades 0, 1, 2): each grade adds
	// a laminar leak of 3 % of the nominal flow at nominal pressure.
	Leakage Kind = "leakage"
	// AccumulatorPrecharge is an accumulator's gas pre-charge, in bar or in
	// % of the nominal pre-charge (Fault.Unit), healthy: the nominal.
	AccumulatorPrecharge Kind = "accumulator_precharge"
	// FilterClogging is a filter's clogging in % [0, 99], healthy 0.
	FilterClogging Kind = "filter_clogging"
	// Cavitation is a pump's suction restriction in % [0, 100], healthy 0:
	// at 100 the inlet pressure reaches the vapour pressure at nominal flow.
	Cavitation Kind = "cavitation"
)

// Sensor faults.
const (
	// SensorDrift adds Value (sensor unit) per hour since the fault began.
	SensorDrift Kind = "sensor_drift"
	// SensorOffset adds Value.
	SensorOffset Kind = "sensor_offset"
	// SensorStuck holds Value, or without Value the first reading after the
	// fault began.
	SensorStuck Kind = "sensor_stuck"
	// SensorDropout makes the sensor produce no samples (NaN in data sets,
	// no readings on the wire).
	SensorDropout Kind = "sensor_dropout"
	// SensorSpikes adds spikes of height Value (random sign), RateHz per
	// second on average (Poisson).
	SensorSpikes Kind = "sensor_spikes"
)

// Kinds lists every fault kind in a stable order.
var Kinds = []Kind{CoolerEfficiency, ValveCondition, Leakage, AccumulatorPrecharge, FilterClogging,
	Cavitation, SensorDrift, SensorOffset, SensorStuck, SensorDropout, SensorSpikes}

// kindFaults maps each component condition to the faults (rig.Fault) a
// diagnosis names it by, the first being Kind.Fault: the one mapping
// between the simulator's vocabulary (what is injected) and the
// diagnoses' (what is named). Sensor faults are rig.FaultSensor.
var kindFaults = map[Kind][]rig.Fault{
	CoolerEfficiency:     {rig.FaultCoolingLoss},
	ValveCondition:       {rig.FaultValveStiction},
	Leakage:              {rig.FaultLeakage},
	AccumulatorPrecharge: {rig.FaultPrechargeLoss},
	FilterClogging:       {rig.FaultFlowRestriction, rig.FaultContamination},
	Cavitation:           {rig.FaultCavitation},
}

// Fault returns the fault a diagnosis names k by: rig.FaultSensor for a
// sensor fault, "" for an unknown kind.
func (k Kind) Fault() rig.Fault {
	if k.IsSensor() {
		return rig.FaultSensor
	}
	if fs := kindFaults[k]; len(fs) > 0 {
		return fs[0]
	}
	return ""
}

// KindOfFault returns the component condition that simulates a diagnosed
// fault, or "" when the simulator has none (e.g. overheating, or
// rig.FaultSensor, which stands for several sensor kinds).
func KindOfFault(f rig.Fault) Kind {
	for _, k := range Kinds {
		if slices.Contains(kindFaults[k], f) {
			return k
		}
	}
	return ""
}

// IsSensor reports whether k is a sensor fault (as opposed to a component
// condition).
func (k Kind) IsSensor() bool { return strings.HasPrefix(string(k), "sensor_") }

// Healthy returns the value of a component condition when no fault is
// active (for AccumulatorPrecharge: 100, in % of nominal).
func (k Kind) Healthy() float64 {
	switch k {
	case CoolerEfficiency, ValveCondition, AccumulatorPrecharge:
		return 100
	}
	return 0
}

// ComponentTypes returns the component types a condition kind applies to
// (nil for sensor faults).
func (k Kind) ComponentTypes() []rig.ComponentType {
	switch k {
	case CoolerEfficiency:
		return []rig.ComponentType{rig.HeatExchanger}
	case ValveCondition:
		return []rig.ComponentType{rig.Valve}
	case Leakage:
		return []rig.ComponentType{rig.Pump, rig.Motor, rig.Cylinder}
	case AccumulatorPrecharge:
		return []rig.ComponentType{rig.Accumulator}
	case FilterClogging:
		return []rig.ComponentType{rig.Filter}
	case Cavitation:
		return []rig.ComponentType{rig.Pump}
	}
	return nil
}

// Units of AccumulatorPrecharge values.
const (
	UnitBar     = "bar"
	UnitPercent = "%"
)

// Scenario is a fault schedule.
type Scenario struct {
	// Faults are the entries, in priority order (a later entry overrides
	// an earlier one of the same kind on the same component or sensor
	// where their ranges overlap).
	Faults []Fault `yaml:"faults" json:"faults"`
}

// Fault is one entry of a scenario.
type Fault struct {
	Kind Kind `yaml:"kind" json:"kind"`
	// Component is the component id, for component conditions.
	Component string `yaml:"component,omitempty" json:"component,omitempty"`
	// Sensor is the sensor id, for sensor faults.
	Sensor string `yaml:"sensor,omitempty" json:"sensor,omitempty"`
	// Value is the condition's value or the sensor fault's size (see the
	// kinds). Required, except for sensor_stuck (optional) and
	// sensor_dropout (not allowed).
	Value *float64 `yaml:"value,omitempty" json:"value,omitempty"`
	// Unit is "bar" or "%" for accumulator_precharge (empty: the unit of
	// the diagnosis target on that accumulator, else "%"); not allowed for
	// other kinds.
	Unit string `yaml:"unit,omitempty" json:"unit,omitempty"`
	// RateHz is the mean spike rate of sensor_spikes (> 0, required
	// there, not allowed elsewhere).
	RateHz float64 `yaml:"rate_hz,omitempty" json:"rate_hz,omitempty"`
	// Cycles is [first, last] (1-based, inclusive) or [first] (to the
	// end). For rigs without a load cycle a cycle is one window of the
	// simulator's window length.
	Cycles []int `yaml:"cycles,omitempty" json:"cycles,omitempty"`
	// From and To bound the fault in simulated time since the start of
	// the recorded run (To 0: to the end). Not allowed together with
	// Cycles; with neither the fault lasts the whole run.
	From time.Duration `yaml:"from,omitempty" json:"from,omitempty"`
	To   time.Duration `yaml:"to,omitempty" json:"to,omitempty"`
}

// Subject returns the component or sensor id the fault applies to.
func (f *Fault) Subject() string {
	if f.Kind.IsSensor() {
		return f.Sensor
	}
	return f.Component
}

// Active reports whether the fault applies in the given cycle (1-based)
// at simulated time t since the start of the run.
func (f *Fault) Active(cycle int, t time.Duration) bool {
	switch {
	case len(f.Cycles) == 1:
		return cycle >= f.Cycles[0]
	case len(f.Cycles) == 2:
		return cycle >= f.Cycles[0] && cycle <= f.Cycles[1]
	}
	return t >= f.From && (f.To == 0 || t < f.To)
}

// ValueOr returns the fault's value, or def when it has none.
func (f *Fault) ValueOr(def float64) float64 {
	if f.Value == nil {
		return def
	}
	return *f.Value
}

// Load reads and parses the scenario file at path.
func Load(path string) (*Scenario, error) {
	data, err := confyaml.ReadFile(path, "scenario")
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes a scenario held in data strictly and checks it (name is
// used in messages, usually the file path). Errors name the file, line,
// column and key path, and quote the bad value; they match ErrInvalid.
func Parse(name string, data []byte) (*Scenario, error) {
	if len(data) > MaxFileSize {
		return nil, invalid(name, 0, 0, "", "file is larger than %d bytes", MaxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalid(name, 0, 0, "", "file is empty; want a mapping with a faults list")
	}
	doc, err := confyaml.Parse(data)
	if err != nil {
		return nil, invalid(name, 0, 0, "", "%v", err)
	}
	if doc.Docs() != 1 || doc.Empty() {
		return nil, invalid(name, 0, 0, "", "want exactly one YAML document holding a faults list")
	}
	if line, col, ok := doc.Alias(); ok {
		return nil, invalid(name, line, col, "",
			"YAML anchors and aliases are not allowed in a scenario (write each fault out)")
	}
	var s Scenario
	if err := doc.Decode(&s); err != nil {
		return nil, yamlError(name, doc, err)
	}
	if err := s.check(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.File = name
			e.Line, e.Column, _ = doc.Lookup(e.Path)
		}
		return nil, err
	}
	return &s, nil
}

// yamlError turns a decode error of go-yaml into an Error with position,
// key path and a one-line message.
func yamlError(name string, doc *confyaml.Document, err error) *Error {
	e := &Error{File: name}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		e.Msg = err.Error()
		if strings.Contains(e.Msg, "invalid duration") {
			e.Msg = "from/to: " + e.Msg + ` (want a Go duration such as "90s", "10m" or "1h30m")`
		}
		return e
	}
	val := ""
	if tk := ye.GetToken(); tk != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
		e.Path, _ = doc.PathAt(e.Line, e.Column)
		val = tk.Value
	}
	var (
		unknown *yaml.UnknownFieldError
		typeErr *yaml.TypeError
		dup     *yaml.DuplicateKeyError
	)
	switch {
	case errors.As(err, &unknown):
		e.Msg = fmt.Sprintf("unknown key %q (a scenario has one key, faults)", val)
		if strings.HasPrefix(e.Path, "faults[") {
			e.Msg = fmt.Sprintf("unknown key %q (keys of a fault: kind, component, sensor, value, unit, rate_hz, cycles, from, to)", val)
		}
	case errors.As(err, &typeErr):
		e.Msg = fmt.Sprintf("%q is not a %s", val, typeErr.DstType)
	case errors.As(err, &dup):
		e.Msg = fmt.Sprintf("duplicate key %q", val)
	default:
		e.Msg = ye.GetMessage()
		if strings.Contains(e.Msg, "duration") {
			e.Msg += ` (want a Go duration such as "90s", "10m" or "1h30m")`
		}
	}
	return e
}

// Error is one problem in a scenario.
type Error struct {
	File         string
	Line, Column int
	// Path is the key path, e.g. "faults[2].value".
	Path string
	Msg  string
}

// Error formats the problem as "file:line:col: path: msg".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("scenario")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
		}
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func invalid(file string, line, col int, path, format string, args ...any) *Error {
	return &Error{File: file, Line: line, Column: col, Path: path, Msg: fmt.Sprintf(format, args...)}
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// check validates what can be checked without a rig: the first problem
// found is returned.
func (s *Scenario) check() error {
	if s.Faults == nil {
		return invalid("", 0, 0, "faults", "missing: want a list of faults (it may be empty: faults: [])")
	}
	if len(s.Faults) > MaxFaults {
		return invalid("", 0, 0, "faults", "%d entries; at most %d are allowed", len(s.Faults), MaxFaults)
	}
	for i := range s.Faults {
		if err := s.Faults[i].check(fmt.Sprintf("faults[%d]", i)); err != nil {
			return err
		}
	}
	return nil
}

// Check validates one fault without a rig; path prefixes its messages.
func (f *Fault) check(path string) error {
	bad := func(key, format string, args ...any) error {
		p := path
		if key != "" {
			p += "." + key
		}
		return invalid("", 0, 0, p, format, args...)
	}
	if f.Kind == "" {
		return bad("kind", "missing; want one of %s", kindList())
	}
	if !slices.Contains(Kinds, f.Kind) {
		return bad("kind", "%q is not a fault kind; want one of %s", f.Kind, kindList())
	}
	if f.Kind.IsSensor() {
		if f.Sensor == "" {
			return bad("sensor", "missing: %s needs the id of a sensor", f.Kind)
		}
		if f.Component != "" {
			return bad("component", "%q not allowed: %s applies to a sensor", f.Component, f.Kind)
		}
	} else {
		if f.Component == "" {
			return bad("component", "missing: %s needs the id of a component", f.Kind)
		}
		if f.Sensor != "" {
			return bad("sensor", "%q not allowed: %s applies to a component", f.Sensor, f.Kind)
		}
	}
	if f.Value != nil && (math.IsNaN(*f.Value) || math.IsInf(*f.Value, 0)) {
		return bad("value", "%v is not a finite number", *f.Value)
	}
	switch f.Kind {
	case SensorDropout:
		if f.Value != nil {
			return bad("value", "%s not allowed for sensor_dropout (it has no size)", fmtNum(*f.Value))
		}
	case SensorStuck:
	default:
		if f.Value == nil {
			return bad("value", "missing: %s needs a value", f.Kind)
		}
	}
	if f.Value != nil {
		v := *f.Value
		rangeErr := func(lo, hi string) error {
			return bad("value", "%s out of range for %s: want %s", fmtNum(v), f.Kind, lo+hi)
		}
		switch f.Kind {
		case CoolerEfficiency, ValveCondition:
			if v <= 0 || v > 100 {
				return rangeErr("(0, 100] %", "")
			}
		case Leakage:
			if v < 0 || v > 10 {
				return rangeErr("a grade in [0, 10]", "")
			}
		case FilterClogging:
			if v < 0 || v > 99 {
				return rangeErr("[0, 99] %", "")
			}
		case Cavitation:
			if v < 0 || v > 100 {
				return rangeErr("[0, 100] %", "")
			}
		case AccumulatorPrecharge:
			if v <= 0 || v > 1000 {
				return rangeErr("(0, 1000] (bar or % of nominal)", "")
			}
		case SensorSpikes:
			if v == 0 {
				return bad("value", "0: sensor_spikes needs a non-zero spike height")
			}
		}
	}
	if f.Unit != "" {
		if f.Kind != AccumulatorPrecharge {
			return bad("unit", "%q not allowed: only accumulator_precharge takes a unit", f.Unit)
		}
		if f.Unit != UnitBar && f.Unit != UnitPercent {
			return bad("unit", "%q is not a pre-charge unit; want %q or %q", f.Unit, UnitBar, UnitPercent)
		}
	}
	if f.Kind == SensorSpikes {
		if !(f.RateHz > 0) || math.IsInf(f.RateHz, 0) || f.RateHz > 1e6 {
			return bad("rate_hz", "%s: sensor_spikes needs a spike rate in (0, 1e6] per second", fmtNum(f.RateHz))
		}
	} else if f.RateHz != 0 {
		return bad("rate_hz", "%s not allowed: only sensor_spikes takes a rate", fmtNum(f.RateHz))
	}
	if f.Cycles != nil {
		if f.From != 0 || f.To != 0 {
			return bad("cycles", "give either cycles or from/to, not both")
		}
		switch len(f.Cycles) {
		case 1, 2:
		default:
			return bad("cycles", "%v: want [first] or [first, last]", f.Cycles)
		}
		for _, c := range f.Cycles {
			if c < 1 || c > MaxCycle {
				return bad("cycles", "%v: cycle numbers start at 1 and are at most %d", f.Cycles, MaxCycle)
			}
		}
		if len(f.Cycles) == 2 && f.Cycles[1] < f.Cycles[0] {
			return bad("cycles", "%v: last cycle before first", f.Cycles)
		}
	}
	if f.From < 0 {
		return bad("from", "%v is negative", f.From)
	}
	if f.To < 0 || (f.To != 0 && f.To <= f.From) {
		return bad("to", "%v: want a time after from (%v), or none for the end of the run", f.To, f.From)
	}
	return nil
}

// Validate binds the scenario to a firmware config: every component and
// sensor must exist and fit the fault kind, and a value for a component
// described by a diagnosis target must be one of the target's class values
// (pre-charges in the target's unit). It returns the first problem found.
func (s *Scenario) Validate(cfg *rig.Config) error {
	if cfg == nil {
		return fmt.Errorf("scenario: validate: nil firmware config")
	}
	if err := s.check(); err != nil {
		return err
	}
	comps := make(map[string]*rig.Component, len(cfg.Components))
	for i := range cfg.Components {
		comps[cfg.Components[i].ID] = &cfg.Components[i]
	}
	for i := range s.Faults {
		f := &s.Faults[i]
		path := fmt.Sprintf("faults[%d]", i)
		if f.Kind.IsSensor() {
			sn := cfg.Sensor(f.Sensor)
			if sn == nil {
				return invalid("", 0, 0, path+".sensor", "%q is not a sensor of rig %s", f.Sensor, cfg.RigType)
			}
			if sn.Inactive {
				return invalid("", 0, 0, path+".sensor", "%q is inactive in the firmware config; the simulator does not produce it", f.Sensor)
			}
			continue
		}
		c, ok := comps[f.Component]
		if !ok {
			return invalid("", 0, 0, path+".component", "%q is not a component of rig %s", f.Component, cfg.RigType)
		}
		if types := f.Kind.ComponentTypes(); !slices.Contains(types, c.Type) {
			return invalid("", 0, 0, path+".component", "%q is a %s; %s applies to %v", f.Component, c.Type, f.Kind, types)
		}
		if f.Kind == AccumulatorPrecharge && f.unit(cfg) == UnitBar && !(c.Nominal.PrechargeBar > 0) {
			return invalid("", 0, 0, path+".unit", "bar needs the accumulator's nominal precharge_bar in the firmware config (%q has none); give the value in %%", f.Component)
		}
		t, kind := TargetFor(cfg, f.Component)
		if t == nil || kind != f.Kind {
			continue
		}
		v := *f.Value
		if f.Kind == AccumulatorPrecharge {
			if u, tu := f.unit(cfg), targetUnit(t); u != tu {
				return invalid("", 0, 0, path+".unit", "%q but target %q is in %q; give the value in %q", u, t.Name, tu, tu)
			}
		}
		if t.ClassIndex(v) < 0 {
			return invalid("", 0, 0, path+".value", "%s is not a class of target %q; want one of %s",
				fmtNum(v), t.Name, classValues(t))
		}
	}
	return nil
}

// unit resolves the pre-charge unit of an accumulator_precharge fault.
func (f *Fault) unit(cfg *rig.Config) string {
	if f.Unit != "" {
		return f.Unit
	}
	return PrechargeUnit(cfg, f.Component)
}

// PrechargeUnit is the unit in which pre-charge values for an accumulator
// are given when a fault names none: the unit of the diagnosis target on
// it if that is "bar", else "%".
func PrechargeUnit(cfg *rig.Config, component string) string {
	if t, k := TargetFor(cfg, component); t != nil && k == AccumulatorPrecharge {
		return targetUnit(t)
	}
	return UnitPercent
}

func targetUnit(t *rig.Target) string {
	if strings.EqualFold(t.Unit, UnitBar) {
		return UnitBar
	}
	return UnitPercent
}

func classValues(t *rig.Target) string {
	vs := make([]string, len(t.Classes))
	for i, c := range t.Classes {
		vs[i] = fmtNum(c.Value)
	}
	return "[" + strings.Join(vs, " ") + "]"
}

// TargetFor returns the condition target describing a component and the
// fault kind its classes are values of (nil, "" when no condition target
// describes the component or its kind is not simulated).
func TargetFor(cfg *rig.Config, component string) (*rig.Target, Kind) {
	for i := range cfg.Targets {
		t := &cfg.Targets[i]
		if t.Kind != rig.TargetCondition || t.Component != component {
			continue
		}
		k, err := TargetKind(cfg, t)
		if err != nil {
			return nil, ""
		}
		return t, k
	}
	return nil, ""
}

// TargetKind returns the fault kind whose values a condition target's
// classes are: named by the classes' faults where they say (cooling_loss,
// valve_stiction, leakage, precharge_loss, flow_restriction or
// contamination, cavitation), else by the type of the target's component.
func TargetKind(cfg *rig.Config, t *rig.Target) (Kind, error) {
	if t.Kind != rig.TargetCondition {
		return "", fmt.Errorf("target %q is a %s, not a condition", t.Name, t.Kind)
	}
	var comp *rig.Component
	for i := range cfg.Components {
		if cfg.Components[i].ID == t.Component {
			comp = &cfg.Components[i]
		}
	}
	if comp == nil {
		return "", fmt.Errorf("target %q: component %q is not in the config", t.Name, t.Component)
	}
	var k Kind
	for _, c := range t.Classes {
		if k = KindOfFault(c.Fault); k != "" {
			break
		}
	}
	if k == "" {
		switch comp.Type {
		case rig.HeatExchanger:
			k = CoolerEfficiency
		case rig.Valve:
			k = ValveCondition
		case rig.Pump, rig.Motor, rig.Cylinder:
			k = Leakage
		case rig.Accumulator:
			k = AccumulatorPrecharge
		case rig.Filter:
			k = FilterClogging
		}
	}
	if k == "" || !slices.Contains(k.ComponentTypes(), comp.Type) {
		return "", fmt.Errorf("target %q on %s %q: the simulator has no condition for it (it simulates %s)",
			t.Name, comp.Type, comp.ID, "cooler_efficiency on heat exchangers, valve_condition on valves, "+
				"leakage on pumps, motors and cylinders, accumulator_precharge, filter_clogging, cavitation on pumps")
	}
	return k, nil
}

// Marshal encodes the scenario as YAML that Parse reads back.
func (s *Scenario) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("faults:\n")
	if len(s.Faults) == 0 {
		return []byte("faults: []\n"), nil
	}
	for _, f := range s.Faults {
		fmt.Fprintf(&b, "  - {kind: %s", f.Kind)
		if f.Component != "" {
			fmt.Fprintf(&b, ", component: %s", strconv.Quote(f.Component))
		}
		if f.Sensor != "" {
			fmt.Fprintf(&b, ", sensor: %s", strconv.Quote(f.Sensor))
		}
		if f.Value != nil {
			fmt.Fprintf(&b, ", value: %s", fmtNum(*f.Value))
		}
		if f.Unit != "" {
			fmt.Fprintf(&b, ", unit: %s", strconv.Quote(f.Unit))
		}
		if f.RateHz != 0 {
			fmt.Fprintf(&b, ", rate_hz: %s", fmtNum(f.RateHz))
		}
		if len(f.Cycles) == 1 {
			fmt.Fprintf(&b, ", cycles: [%d]", f.Cycles[0])
		} else if len(f.Cycles) == 2 {
			fmt.Fprintf(&b, ", cycles: [%d, %d]", f.Cycles[0], f.Cycles[1])
		}
		if f.From != 0 {
			fmt.Fprintf(&b, ", from: %s", f.From)
		}
		if f.To != 0 {
			fmt.Fprintf(&b, ", to: %s", f.To)
		}
		b.WriteString("}\n")
	}
	return b.Bytes(), nil
}
