package rig

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Patterns of names (regular expressions, also used by the JSON Schema).
const (
	// IDPattern is the form of component and sensor ids.
	IDPattern = `^[A-Za-z][A-Za-z0-9_.-]{0,63}$`
	// RigTypePattern is the form of a rig type.
	RigTypePattern = `^[a-z][a-z0-9-]{1,62}$`
	// TargetPattern is the form of a target name.
	TargetPattern = `^[a-z][a-z0-9_]{0,31}$`
)

var (
	idPattern       = regexp.MustCompile(IDPattern)
	rigTypePattern  = regexp.MustCompile(RigTypePattern)
	targetPattern   = regexp.MustCompile(TargetPattern)
	pluginPattern   = regexp.MustCompile(`^plugin:[a-z][a-z0-9_-]{0,63}$`)
	isoViscosityVGs = []int{2, 3, 5, 7, 10, 15, 22, 32, 46, 68, 100, 150, 220, 320, 460, 680, 1000, 1500, 2200, 3200}
)

// Limits on sizes; a config beyond them is refused.
const (
	MaxComponents = 512
	MaxSensors    = 4096
	MaxTargets    = 64
	MaxClasses    = 64
	// MaxRateHz is the highest sampling rate a sensor may declare.
	MaxRateHz = 100_000
	// MaxPressureBar bounds every pressure value.
	MaxPressureBar = 2000
)

type validator struct{ errs Errors }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// num checks that x is finite and in [lo, hi].
func (v *validator) num(path string, x, lo, hi float64) {
	switch {
	case math.IsNaN(x) || math.IsInf(x, 0):
		v.add(path, "%v is not a finite number", x)
	case x < lo || x > hi:
		v.add(path, "%s is out of range [%s, %s]", fmtNum(x), fmtNum(lo), fmtNum(hi))
	}
}

// opt checks an optional non-negative quantity (0 = unset) against hi.
func (v *validator) opt(path string, x, hi float64) {
	if x == 0 {
		return
	}
	v.num(path, x, 0, hi)
}

func (v *validator) date(path string, d Date) {
	if _, err := d.Time(); err != nil {
		v.add(path, "%q is not a date (want YYYY-MM-DD)", string(d))
	}
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

func oneOf[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, x := range list {
		s[i] = string(x)
		if s[i] == "" {
			s[i] = `""`
		}
	}
	return strings.Join(s, ", ")
}

func (c *Config) validate() error {
	v := &validator{}
	if c.APIVersion != APIVersion {
		v.add("api_version", "%q is not supported (want %q)", c.APIVersion, APIVersion)
	}
	if !rigTypePattern.MatchString(c.RigType) {
		v.add("rig_type", "%q is not a rig type (lowercase letters, digits and '-', 2-63 characters, starting with a letter)", c.RigType)
	}
	if strings.TrimSpace(c.TopologyVersion) == "" {
		v.add("topology_version", "is required (bump it whenever components, connections or sensors change)")
	}
	c.validateEquipment(v)
	comps := c.validateComponents(v)
	c.validateOperation(v, comps)
	c.validateConnections(v, comps)
	c.validateSensors(v, comps)
	c.validateTargets(v, comps)
	if len(v.errs) == 0 {
		return nil
	}
	return v.errs
}

func (c *Config) validateEquipment(v *validator) {
	e := c.Equipment
	if strings.TrimSpace(e.ID) == "" {
		v.add("equipment.id", "is required")
	}
	if e.Year != 0 && (e.Year < 1900 || e.Year > 2200) {
		v.add("equipment.year", "%d is out of range [1900, 2200]", e.Year)
	}
	v.opt("equipment.operating_hours", e.OperatingHours, 1e7)
	v.date("equipment.last_maintenance", e.LastMaintenance)
	v.date("equipment.next_maintenance", e.NextMaintenance)
	if e.Circuit != "" && e.Circuit != CircuitOpen && e.Circuit != CircuitClosed {
		v.add("equipment.circuit", "%q is not a circuit type (want open or closed)", e.Circuit)
	}
	if g := e.Fluid.ViscosityGrade; g != 0 && !slices.Contains(isoViscosityVGs, g) {
		v.add("equipment.fluid.viscosity_grade", "%d is not an ISO VG grade (want one of %v)", g, isoViscosityVGs)
	}
	v.opt("equipment.fluid.density_kg_m3", e.Fluid.DensityKgM3, 2000)
	if d := e.Fluid.DensityKgM3; d != 0 && d < 500 {
		v.add("equipment.fluid.density_kg_m3", "%s is out of range [500, 2000]", fmtNum(d))
	}
	v.opt("equipment.tank_volume_l", e.TankVolumeL, 1e6)
	v.opt("equipment.max_pressure_bar", e.MaxPressureBar, MaxPressureBar)
	v.num("equipment.location.latitude", e.Location.Latitude, -90, 90)
	v.num("equipment.location.longitude", e.Location.Longitude, -180, 180)
}

func (c *Config) validateComponents(v *validator) map[string]*Component {
	comps := make(map[string]*Component, len(c.Components))
	if len(c.Components) == 0 {
		v.add("components", "at least one component is required")
	}
	if len(c.Components) > MaxComponents {
		v.add("components", "%d components exceed the limit of %d", len(c.Components), MaxComponents)
	}
	for i := range c.Components {
		comp := &c.Components[i]
		p := fmt.Sprintf("components[%d]", i)
		switch {
		case !idPattern.MatchString(comp.ID):
			v.add(p+".id", "%q is not an id (a letter, then letters, digits, '_', '-' or '.', at most 64)", comp.ID)
		case comps[comp.ID] != nil:
			v.add(p+".id", "%q is used by another component", comp.ID)
		default:
			comps[comp.ID] = comp
		}
		if !slices.Contains(ComponentTypes, comp.Type) {
			v.add(p+".type", "%q is not a component type (want one of %s)", comp.Type, oneOf(ComponentTypes))
		}
		n := comp.Nominal
		np := p + ".nominal."
		v.opt(np+"pressure_bar", n.PressureBar, MaxPressureBar)
		v.opt(np+"flow_lpm", n.FlowLPM, 1e5)
		v.opt(np+"power_kw", n.PowerKW, 1e5)
		v.opt(np+"speed_rpm", n.SpeedRPM, 1e5)
		v.opt(np+"displacement_cc", n.DisplacementCC, 1e5)
		v.opt(np+"efficiency", n.Efficiency, 1)
		v.opt(np+"volume_l", n.VolumeL, 1e6)
		v.opt(np+"precharge_bar", n.PrechargeBar, MaxPressureBar)
		v.opt(np+"switch_time_ms", n.SwitchTimeMS, 1e5)
		v.opt(np+"orifice_mm2", n.OrificeMM2, 1e6)
		v.opt(np+"heat_kw", n.HeatKW, 1e5)
		v.opt(np+"pressure_drop_bar", n.PressureDropBar, MaxPressureBar)
		v.opt(np+"bore_mm", n.BoreMM, 1e4)
		v.opt(np+"rod_mm", n.RodMM, 1e4)
		v.opt(np+"stroke_mm", n.StrokeMM, 1e5)
		v.opt(np+"filtration_um", n.FiltrationUM, 1e4)
		if n.RodMM != 0 && n.BoreMM != 0 && n.RodMM >= n.BoreMM {
			v.add(np+"rod_mm", "%s must be smaller than bore_mm %s", fmtNum(n.RodMM), fmtNum(n.BoreMM))
		}
		if n.PrechargeBar != 0 && n.PressureBar != 0 && n.PrechargeBar >= n.PressureBar {
			v.add(np+"precharge_bar", "%s must be below the working pressure_bar %s", fmtNum(n.PrechargeBar), fmtNum(n.PressureBar))
		}
		for k := range comp.Metadata {
			if strings.TrimSpace(k) == "" {
				v.add(p+".metadata", "has an empty key")
			}
		}
	}
	return comps
}

func (c *Config) validateOperation(v *validator, comps map[string]*Component) {
	op := c.Operation
	v.opt("operation.cycle_s", op.CycleS, 86400)
	v.opt("operation.relief_bar", op.ReliefBar, MaxPressureBar)
	v.num("operation.ambient_c", op.AmbientC, -60, 80)
	for i, s := range op.LoadSteps {
		p := fmt.Sprintf("operation.load_steps[%d]", i)
		v.num(p+".at_s", s.AtS, 0, 1e7)
		v.num(p+".load_bar", s.LoadBar, 0, MaxPressureBar)
		if i == 0 && s.AtS != 0 {
			v.add(p+".at_s", "%s: the first step must start at 0", fmtNum(s.AtS))
		}
		if i > 0 && s.AtS <= op.LoadSteps[i-1].AtS {
			v.add(p+".at_s", "%s is not after the previous step's %s (steps must be sorted)", fmtNum(s.AtS), fmtNum(op.LoadSteps[i-1].AtS))
		}
		if op.CycleS > 0 && s.AtS >= op.CycleS {
			v.add(p+".at_s", "%s is not within the %s s cycle", fmtNum(s.AtS), fmtNum(op.CycleS))
		}
		if op.ReliefBar > 0 && s.LoadBar > op.ReliefBar {
			v.add(p+".load_bar", "%s exceeds relief_bar %s", fmtNum(s.LoadBar), fmtNum(op.ReliefBar))
		}
		if s.Idle && s.LoadBar != 0 {
			v.add(p+".load_bar", "%s is set on an idle step (an idle step has no load)", fmtNum(s.LoadBar))
		}
		if s.Actuator != "" {
			comp := comps[s.Actuator]
			switch {
			case comp == nil:
				v.add(p+".actuator", "%q is not a component id", s.Actuator)
			case comp.Type != Cylinder && comp.Type != Motor && comp.Type != Actuator:
				v.add(p+".actuator", "%q is a %s, not a cylinder, motor or actuator", s.Actuator, comp.Type)
			}
		}
	}
}

func (c *Config) validateConnections(v *validator, comps map[string]*Component) {
	type key struct {
		from, to string
		line     LineType
	}
	seen := map[key]int{}
	for i, e := range c.Connections {
		p := fmt.Sprintf("connections[%d]", i)
		if comps[e.From] == nil {
			v.add(p+".from", "%q is not a component id", e.From)
		}
		if comps[e.To] == nil {
			v.add(p+".to", "%q is not a component id", e.To)
		}
		if e.From == e.To && e.From != "" {
			v.add(p+".to", "%q connects the component to itself", e.To)
		}
		if !slices.Contains(LineTypes, e.Line) {
			v.add(p+".line", "%q is not a line type (want one of %s)", e.Line, oneOf(LineTypes))
		}
		if e.Direction != "" && e.Direction != Forward && e.Direction != Bidirectional {
			v.add(p+".direction", "%q is not a direction (want forward or bidirectional)", e.Direction)
		}
		v.opt(p+".diameter_mm", e.DiameterMM, 2000)
		v.opt(p+".length_m", e.LengthM, 1e4)
		v.opt(p+".rating_bar", e.RatingBar, MaxPressureBar)
		if l := e.Live; l != nil {
			v.num(p+".live.flow_lpm", l.FlowLPM, -1e5, 1e5)
			v.num(p+".live.pressure_drop_bar", l.PressureDropBar, -MaxPressureBar, MaxPressureBar)
			v.num(p+".live.temp_delta_c", l.TempDeltaC, -200, 200)
			v.opt(p+".live.vibration_mm_s", l.VibrationMMS, 1e3)
			v.opt(p+".live.age_hours", l.AgeHours, 1e7)
			v.date(p+".live.last_maintenance", l.LastMaintenance)
		}
		k := key{e.From, e.To, e.Line}
		if j, dup := seen[k]; dup {
			v.add(p, "repeats connections[%d] (%s -> %s, %s)", j, e.From, e.To, e.Line)
		} else {
			seen[k] = i
		}
	}
	if len(comps) != len(c.Components) || len(c.Components) < 2 {
		return // ids are broken or trivially connected: graph checks would only add noise
	}
	c.checkConnected(v, comps)
	if c.Topology.Acyclic {
		if cyc := c.findCycle(); cyc != nil {
			v.add("connections", "cycle %s, but topology.acyclic forbids cycles", strings.Join(cyc, " -> "))
		}
	}
}

// checkConnected reports components not reachable from the first one when
// connections are taken as undirected.
func (c *Config) checkConnected(v *validator, comps map[string]*Component) {
	adj := map[string][]string{}
	for _, e := range c.Connections {
		if comps[e.From] == nil || comps[e.To] == nil {
			return
		}
		adj[e.From] = append(adj[e.From], e.To)
		adj[e.To] = append(adj[e.To], e.From)
	}
	start := c.Components[0].ID
	seen := map[string]bool{start: true}
	stack := []string{start}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, m := range adj[n] {
			if !seen[m] {
				seen[m] = true
				stack = append(stack, m)
			}
		}
	}
	var lost []string
	for _, comp := range c.Components {
		if !seen[comp.ID] {
			lost = append(lost, comp.ID)
		}
	}
	if len(lost) > 0 {
		v.add("connections", "the rig graph is not connected: %s cannot be reached from %q", strings.Join(lost, ", "), start)
	}
}

// findCycle returns one directed cycle (bidirectional connections count both
// ways) as a list of ids starting and ending at the same id, or nil.
func (c *Config) findCycle() []string {
	adj := map[string][]string{}
	for _, e := range c.Connections {
		adj[e.From] = append(adj[e.From], e.To)
		if e.Direction == Bidirectional {
			adj[e.To] = append(adj[e.To], e.From)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n, parent string, viaBidir bool) bool
	visit = func(n, parent string, _ bool) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range adj[n] {
			switch color[m] {
			case grey:
				// A bidirectional edge walked back to its other end is
				// not a cycle.
				if m == parent && c.bidirectional(parent, n) {
					continue
				}
				i := slices.Index(stack, m)
				found = append(slices.Clone(stack[i:]), m)
				return true
			case white:
				if visit(m, n, false) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, comp := range c.Components {
		if color[comp.ID] == white && visit(comp.ID, "", false) {
			return found
		}
	}
	return nil
}

func (c *Config) bidirectional(a, b string) bool {
	for _, e := range c.Connections {
		if e.Direction == Bidirectional && ((e.From == a && e.To == b) || (e.From == b && e.To == a)) {
			return true
		}
	}
	return false
}

func (c *Config) validateSensors(v *validator, comps map[string]*Component) {
	if len(c.Sensors) == 0 {
		v.add("sensors", "at least one sensor is required")
	}
	if len(c.Sensors) > MaxSensors {
		v.add("sensors", "%d sensors exceed the limit of %d", len(c.Sensors), MaxSensors)
	}
	ids := map[string]int{}
	topicCodec := map[string]string{}
	active, required := 0, 0
	for i := range c.Sensors {
		s := &c.Sensors[i]
		p := fmt.Sprintf("sensors[%d]", i)
		switch {
		case !idPattern.MatchString(s.ID):
			v.add(p+".id", "%q is not an id (a letter, then letters, digits, '_', '-' or '.', at most 64)", s.ID)
		default:
			if j, dup := ids[s.ID]; dup {
				v.add(p+".id", "%q is used by sensors[%d]", s.ID, j)
			} else {
				ids[s.ID] = i
			}
		}
		units, ok := Units[s.Kind]
		if !ok {
			v.add(p+".kind", "%q is not a sensor kind (want one of %s)", s.Kind, oneOf(SensorKinds))
		} else if !slices.Contains(units, s.Unit) {
			v.add(p+".unit", "%q is not a unit of %s (want one of %s)", s.Unit, s.Kind, strings.Join(units, ", "))
		}
		if s.RateHz <= 0 || math.IsNaN(s.RateHz) || s.RateHz > MaxRateHz {
			v.add(p+".rate_hz", "%s is out of range (0, %d]", fmtNum(s.RateHz), MaxRateHz)
		}
		v.num(p+".range.min", s.Range.Min, -1e9, 1e9)
		v.num(p+".range.max", s.Range.Max, -1e9, 1e9)
		if !(s.Range.Min < s.Range.Max) {
			v.add(p+".range", "min %s must be below max %s", fmtNum(s.Range.Min), fmtNum(s.Range.Max))
		}
		v.opt(p+".accuracy_pct", s.AccuracyPct, 100)
		if s.Resolution < 0 || math.IsNaN(s.Resolution) || (s.Range.Max > s.Range.Min && s.Resolution >= s.Range.Max-s.Range.Min) {
			v.add(p+".resolution", "%s must be at least 0 and below the range width", fmtNum(s.Resolution))
		}
		v.date(p+".calibration.date", s.Calibration.Date)
		v.date(p+".calibration.due", s.Calibration.Due)
		if s.Calibration.Date != "" && s.Calibration.Due != "" && s.Calibration.Due < s.Calibration.Date {
			v.add(p+".calibration.due", "%q is before the calibration date %q", s.Calibration.Due, s.Calibration.Date)
		}
		comp := comps[s.Component]
		if comp == nil {
			v.add(p+".component", "%q is not a component id", s.Component)
		}
		if err := CheckSensorPort(s.Port, comp); err != nil {
			v.add(p+".port", "%s", err)
		}
		v.num(p+".scale", s.Scale, -1e12, 1e12)
		v.num(p+".offset", s.Offset, -1e12, 1e12)
		c.validateBinding(v, p+".mqtt", s.MQTT, topicCodec)
		switch {
		case s.Inactive && s.MayDropOut:
			v.add(p+".may_drop_out", "true on an inactive sensor, which is never a model input (drop the flag or the inactive mark)")
		case !s.Inactive:
			active++
			if !s.MayDropOut {
				required++
			}
		}
	}
	if active > 0 && required == 0 {
		v.add("sensors", "every active sensor has may_drop_out: true; at least one must be required (a model needs an input it can count on)")
	}
}

// CheckSensorPort reports whether a sensor may sit at port on comp: port
// must be one of Ports, and "gas" is only valid on an accumulator. comp may
// be nil (an unknown component; only the port name is checked then). The
// error message carries no field path; Validate puts it under
// sensors[i].port.
func CheckSensorPort(port Port, comp *Component) error {
	if !slices.Contains(Ports, port) {
		return fmt.Errorf("%q is not a port (want one of %s)", port, oneOf(Ports))
	}
	if port == PortGas && comp != nil && comp.Type != Accumulator {
		return fmt.Errorf("\"gas\" is only valid on an accumulator, %q is a %s", comp.ID, comp.Type)
	}
	return nil
}

func (c *Config) validateBinding(v *validator, p string, b MQTTBinding, topicCodec map[string]string) {
	switch {
	case b.Topic == "":
		v.add(p+".topic", "is required")
	case strings.ContainsAny(b.Topic, "+#\x00"):
		v.add(p+".topic", "%q contains a wildcard or NUL (a sensor publishes to one exact topic)", b.Topic)
	case strings.HasPrefix(b.Topic, "$"):
		v.add(p+".topic", "%q starts with '$' (reserved for broker topics)", b.Topic)
	case len(b.Topic) > 1024:
		v.add(p+".topic", "is %d bytes long (at most 1024)", len(b.Topic))
	}
	if !slices.Contains(Codecs, b.Codec) && !pluginPattern.MatchString(b.Codec) {
		v.add(p+".codec", "%q is not a codec (want one of %s, or plugin:NAME)", b.Codec, strings.Join(Codecs, ", "))
	} else if b.Topic != "" {
		if prev, ok := topicCodec[b.Topic]; ok && prev != b.Codec {
			v.add(p+".codec", "%q differs from %q used by another sensor on topic %q (one topic, one codec)", b.Codec, prev, b.Topic)
		} else {
			topicCodec[b.Topic] = b.Codec
		}
	}
	if b.QoS != nil && (*b.QoS < 0 || *b.QoS > 2) {
		v.add(p+".qos", "%d is not an MQTT QoS (want 0, 1 or 2)", *b.QoS)
	}
}

func (c *Config) validateTargets(v *validator, comps map[string]*Component) {
	if len(c.Targets) > MaxTargets {
		v.add("targets", "%d targets exceed the limit of %d", len(c.Targets), MaxTargets)
	}
	names := map[string]bool{}
	for i, t := range c.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		if !targetPattern.MatchString(t.Name) {
			v.add(p+".name", "%q is not a target name (lowercase letters, digits and '_', at most 32)", t.Name)
		} else if names[t.Name] {
			v.add(p+".name", "%q is used by another target", t.Name)
		}
		names[t.Name] = true
		if t.Component != "" && comps[t.Component] == nil {
			v.add(p+".component", "%q is not a component id", t.Component)
		}
		switch t.Kind {
		case TargetCondition:
			if t.Component == "" {
				v.add(p+".component", "is required for a condition target")
			}
		case TargetFlag:
		default:
			v.add(p+".kind", "%q is not a target kind (want condition or flag)", t.Kind)
		}
		if len(t.Classes) < 2 || len(t.Classes) > MaxClasses {
			v.add(p+".classes", "has %d classes (want 2 to %d)", len(t.Classes), MaxClasses)
		}
		values := map[float64]int{}
		for j, cl := range t.Classes {
			cp := fmt.Sprintf("%s.classes[%d]", p, j)
			v.num(cp+".value", cl.Value, -1e9, 1e9)
			if k, dup := values[cl.Value]; dup {
				v.add(cp+".value", "%s repeats classes[%d]", fmtNum(cl.Value), k)
			}
			values[cl.Value] = j
			if strings.TrimSpace(cl.Label) == "" {
				v.add(cp+".label", "is required")
			}
			if cl.Health != nil {
				v.num(cp+".health", *cl.Health, 0, 1)
			} else if t.Kind == TargetCondition {
				v.add(cp+".health", "is required for a condition target (the component health in [0, 1] this grade means)")
			}
			if cl.Fault != "" && !slices.Contains(Faults, cl.Fault) {
				v.add(cp+".fault", "%q is not a fault (want one of %s)", cl.Fault, oneOf(Faults))
			}
		}
	}
}
