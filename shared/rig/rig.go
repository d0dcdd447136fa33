package rig

// APIVersion is the only firmware-config schema version this module reads.
const APIVersion = "hydrognn/v1"

// Config is one rig description: a firmware config file. It is the single
// source of truth for a rig type's components, hydraulic connections,
// sensors and diagnosis targets. Load it with Load or Parse, which validate
// it; a Config built by hand must pass Validate before use.
//
// A Config is plain data: it is safe for concurrent reads once loaded.
type Config struct {
	// APIVersion must be "hydrognn/v1".
	APIVersion string `json:"api_version" yaml:"api_version"`
	// RigType names the rig type (lowercase, e.g. "zema-testrig"). Model
	// bundles are bound to it.
	RigType string `json:"rig_type" yaml:"rig_type"`
	// Name is a human-readable title.
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Description says what the rig is and how the sensors were placed.
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	// TopologyVersion is bumped whenever components, connections or
	// sensors change (semantic version or integer string).
	TopologyVersion string `json:"topology_version" yaml:"topology_version"`
	// Equipment is the metadata of the machine itself.
	Equipment Equipment `json:"equipment" yaml:"equipment"`
	// Topology holds graph rules for this rig type.
	Topology TopologyRules `json:"topology,omitzero" yaml:"topology,omitempty"`
	// Operation describes the rig's duty cycle (used for cycle-aligned
	// windows and by the simulator).
	Operation Operation `json:"operation,omitzero" yaml:"operation,omitempty"`
	// Components are the graph's nodes. Order is significant: it is the
	// node order of models trained for this rig.
	Components []Component `json:"components" yaml:"components"`
	// Connections are the hydraulic lines between components (the edges).
	Connections []Connection `json:"connections" yaml:"connections"`
	// Sensors are the measured (or virtual) signals. Order is significant:
	// it is the feature order of models trained for this rig.
	Sensors []Sensor `json:"sensors" yaml:"sensors"`
	// Targets are the diagnosis targets of this rig type (for example the
	// ZeMA rig's cooler, valve, pump and accumulator conditions). Their
	// order is the column order of a UCI-layout profile.txt.
	Targets []Target `json:"targets,omitempty" yaml:"targets,omitempty"`
}

// Equipment is descriptive metadata of one machine.
type Equipment struct {
	ID              string   `json:"id" yaml:"id"`
	Manufacturer    string   `json:"manufacturer,omitempty" yaml:"manufacturer,omitempty"`
	Model           string   `json:"model,omitempty" yaml:"model,omitempty"`
	Serial          string   `json:"serial,omitempty" yaml:"serial,omitempty"`
	Year            int      `json:"year,omitempty" yaml:"year,omitempty"`
	OperatingHours  float64  `json:"operating_hours,omitempty" yaml:"operating_hours,omitempty"`
	LastMaintenance Date     `json:"last_maintenance,omitempty" yaml:"last_maintenance,omitempty"`
	NextMaintenance Date     `json:"next_maintenance,omitempty" yaml:"next_maintenance,omitempty"`
	Circuit         Circuit  `json:"circuit,omitempty" yaml:"circuit,omitempty"`
	Fluid           Fluid    `json:"fluid,omitzero" yaml:"fluid,omitempty"`
	TankVolumeL     float64  `json:"tank_volume_l,omitempty" yaml:"tank_volume_l,omitempty"`
	MaxPressureBar  float64  `json:"max_pressure_bar,omitempty" yaml:"max_pressure_bar,omitempty"`
	Location        Location `json:"location,omitzero" yaml:"location,omitempty"`
}

// Circuit is the hydraulic circuit type.
type Circuit string

// Circuit types.
const (
	CircuitOpen   Circuit = "open"
	CircuitClosed Circuit = "closed"
)

// Fluid is the hydraulic fluid.
type Fluid struct {
	// Type, e.g. "HLP mineral oil" or "water".
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// ViscosityGrade is the ISO VG grade, e.g. 46 (0 for none/unknown).
	ViscosityGrade int `json:"viscosity_grade,omitempty" yaml:"viscosity_grade,omitempty"`
	// DensityKgM3 is the density at 15 C (0: 870 for oil).
	DensityKgM3 float64 `json:"density_kg_m3,omitempty" yaml:"density_kg_m3,omitempty"`
}

// Location is where the machine stands.
type Location struct {
	Site      string  `json:"site,omitempty" yaml:"site,omitempty"`
	Latitude  float64 `json:"latitude,omitempty" yaml:"latitude,omitempty"`
	Longitude float64 `json:"longitude,omitempty" yaml:"longitude,omitempty"`
	Note      string  `json:"note,omitempty" yaml:"note,omitempty"`
}

// TopologyRules are constraints on the component graph.
type TopologyRules struct {
	// Acyclic forbids directed cycles among connections (zero: cycles
	// allowed, as in any circuit that returns to its tank).
	Acyclic bool `json:"acyclic,omitempty" yaml:"acyclic,omitempty"`
}

// Operation is the rig's operating program.
type Operation struct {
	// CycleS is the duration of one load cycle in seconds (0: the rig runs
	// continuously and windows slide).
	CycleS float64 `json:"cycle_s,omitempty" yaml:"cycle_s,omitempty"`
	// ReliefBar is the system relief-valve setting (0: the largest
	// nominal pressure of the pumps).
	ReliefBar float64 `json:"relief_bar,omitempty" yaml:"relief_bar,omitempty"`
	// LoadSteps is the load program within one cycle: from AtS seconds on,
	// the load pressure is LoadBar. Sorted by AtS, the first at 0.
	LoadSteps []LoadStep `json:"load_steps,omitempty" yaml:"load_steps,omitempty"`
	// AmbientC is the ambient temperature (0: 20 C).
	AmbientC float64 `json:"ambient_c,omitempty" yaml:"ambient_c,omitempty"`
}

// LoadStep is one step of the load program.
type LoadStep struct {
	AtS     float64 `json:"at_s" yaml:"at_s"`
	LoadBar float64 `json:"load_bar,omitempty" yaml:"load_bar,omitempty"`
	// Idle marks a step where the directional valves are closed and the
	// pump delivers against the relief setting (LoadBar is then unused).
	Idle bool `json:"idle,omitempty" yaml:"idle,omitempty"`
	// Actuator names the component driven in this step (optional; for
	// mobile machines: the cylinder or motor that moves).
	Actuator string `json:"actuator,omitempty" yaml:"actuator,omitempty"`
}

// ComponentType is the kind of a hydraulic component.
type ComponentType string

// Component types.
const (
	Pump          ComponentType = "pump"
	Valve         ComponentType = "valve"
	Actuator      ComponentType = "actuator"
	Cylinder      ComponentType = "cylinder"
	Motor         ComponentType = "motor" // hydraulic motor
	ElectricMotor ComponentType = "electric_motor"
	Engine        ComponentType = "engine"
	Accumulator   ComponentType = "accumulator"
	Filter        ComponentType = "filter"
	Reservoir     ComponentType = "reservoir"
	HeatExchanger ComponentType = "heat_exchanger"
	Heater        ComponentType = "heater"
	Manifold      ComponentType = "manifold"
)

// ComponentTypes lists every known component type, in a stable order.
var ComponentTypes = []ComponentType{Pump, Valve, Actuator, Cylinder, Motor, ElectricMotor,
	Engine, Accumulator, Filter, Reservoir, HeatExchanger, Heater, Manifold}

// Component is one node of the rig graph.
type Component struct {
	// ID is unique among components (letters, digits, '_', '-', '.').
	ID   string        `json:"id" yaml:"id"`
	Type ComponentType `json:"type" yaml:"type"`
	// Name is a human-readable label, e.g. "main pump MP1".
	Name string `json:"name,omitempty" yaml:"name,omitempty"`
	// Circuit names the sub-circuit, e.g. "working" or "cooling".
	Circuit string `json:"circuit,omitempty" yaml:"circuit,omitempty"`
	// Nominal holds rated values; a zero field is unknown.
	Nominal Nominal `json:"nominal,omitzero" yaml:"nominal,omitempty"`
	// Metadata is free-form (maker, part number, install date...).
	Metadata map[string]string `json:"metadata,omitempty" yaml:"metadata,omitempty"`
}

// Nominal holds a component's rated values. Every field is optional (zero
// means unknown); a set field must be positive unless noted.
type Nominal struct {
	PressureBar    float64 `json:"pressure_bar,omitempty" yaml:"pressure_bar,omitempty"`
	FlowLPM        float64 `json:"flow_lpm,omitempty" yaml:"flow_lpm,omitempty"`
	PowerKW        float64 `json:"power_kw,omitempty" yaml:"power_kw,omitempty"`
	SpeedRPM       float64 `json:"speed_rpm,omitempty" yaml:"speed_rpm,omitempty"`
	DisplacementCC float64 `json:"displacement_cc,omitempty" yaml:"displacement_cc,omitempty"`
	// Efficiency is the rated efficiency in (0, 1] (volumetric for pumps
	// and motors, electrical for electric motors).
	Efficiency float64 `json:"efficiency,omitempty" yaml:"efficiency,omitempty"`
	// VolumeL is a gas volume (accumulator) or fluid volume (reservoir).
	VolumeL      float64 `json:"volume_l,omitempty" yaml:"volume_l,omitempty"`
	PrechargeBar float64 `json:"precharge_bar,omitempty" yaml:"precharge_bar,omitempty"`
	// SwitchTimeMS is the valve's nominal switching time.
	SwitchTimeMS float64 `json:"switch_time_ms,omitempty" yaml:"switch_time_ms,omitempty"`
	// OrificeMM2 is the open flow area of a valve or orifice.
	OrificeMM2 float64 `json:"orifice_mm2,omitempty" yaml:"orifice_mm2,omitempty"`
	// HeatKW is a cooler's (or heater's) rated heat flow.
	HeatKW float64 `json:"heat_kw,omitempty" yaml:"heat_kw,omitempty"`
	// PressureDropBar is a filter's or cooler's clean pressure drop at
	// nominal flow.
	PressureDropBar float64 `json:"pressure_drop_bar,omitempty" yaml:"pressure_drop_bar,omitempty"`
	BoreMM          float64 `json:"bore_mm,omitempty" yaml:"bore_mm,omitempty"`
	RodMM           float64 `json:"rod_mm,omitempty" yaml:"rod_mm,omitempty"`
	StrokeMM        float64 `json:"stroke_mm,omitempty" yaml:"stroke_mm,omitempty"`
	// FiltrationUM is a filter's rating in micrometres.
	FiltrationUM float64 `json:"filtration_um,omitempty" yaml:"filtration_um,omitempty"`
}

// LineType is the kind of a hydraulic connection.
type LineType string

// Line types.
const (
	LinePressure LineType = "pressure"
	LineReturn   LineType = "return"
	LineSuction  LineType = "suction"
	LinePilot    LineType = "pilot"
	LineDrain    LineType = "drain"
	LineHose     LineType = "hose"
	LineManifold LineType = "manifold"
	// LineMechanical is a shaft coupling (motor to pump): not hydraulic,
	// but an edge along which faults propagate.
	LineMechanical LineType = "mechanical"
)

// LineTypes lists every known line type.
var LineTypes = []LineType{LinePressure, LineReturn, LineSuction, LinePilot, LineDrain,
	LineHose, LineManifold, LineMechanical}

// Direction is the flow direction of a connection.
type Direction string

// Directions.
const (
	Forward       Direction = "forward" // from From to To (the default)
	Bidirectional Direction = "bidirectional"
)

// Connection is one edge of the rig graph.
type Connection struct {
	From string   `json:"from" yaml:"from"`
	To   string   `json:"to" yaml:"to"`
	Line LineType `json:"line" yaml:"line"`
	// DiameterMM is the inner diameter.
	DiameterMM float64 `json:"diameter_mm,omitempty" yaml:"diameter_mm,omitempty"`
	LengthM    float64 `json:"length_m,omitempty" yaml:"length_m,omitempty"`
	RatingBar  float64 `json:"rating_bar,omitempty" yaml:"rating_bar,omitempty"`
	Material   string  `json:"material,omitempty" yaml:"material,omitempty"`
	// Direction defaults to forward.
	Direction Direction `json:"direction,omitempty" yaml:"direction,omitempty"`
	// Live holds last known condition values of the line (optional).
	Live *LineState `json:"live,omitempty" yaml:"live,omitempty"`
}

// LineState is the condition of a line as last measured or maintained.
type LineState struct {
	FlowLPM         float64 `json:"flow_lpm,omitempty" yaml:"flow_lpm,omitempty"`
	PressureDropBar float64 `json:"pressure_drop_bar,omitempty" yaml:"pressure_drop_bar,omitempty"`
	TempDeltaC      float64 `json:"temp_delta_c,omitempty" yaml:"temp_delta_c,omitempty"`
	VibrationMMS    float64 `json:"vibration_mm_s,omitempty" yaml:"vibration_mm_s,omitempty"`
	AgeHours        float64 `json:"age_hours,omitempty" yaml:"age_hours,omitempty"`
	LastMaintenance Date    `json:"last_maintenance,omitempty" yaml:"last_maintenance,omitempty"`
}

// SensorKind is the physical quantity a sensor measures.
type SensorKind string

// Sensor kinds.
const (
	KindPressure      SensorKind = "pressure"
	KindDiffPressure  SensorKind = "differential_pressure"
	KindFlow          SensorKind = "flow"
	KindTemperature   SensorKind = "temperature"
	KindVibration     SensorKind = "vibration"
	KindAcceleration  SensorKind = "acceleration"
	KindPower         SensorKind = "power"
	KindCurrent       SensorKind = "current"
	KindVoltage       SensorKind = "voltage"
	KindSpeed         SensorKind = "speed"
	KindPosition      SensorKind = "position"
	KindLevel         SensorKind = "level"
	KindEfficiency    SensorKind = "efficiency"
	KindContamination SensorKind = "contamination"
	KindHumidity      SensorKind = "humidity"
	KindTorque        SensorKind = "torque"
)

// Sensor is one signal of the rig.
type Sensor struct {
	// ID is unique among sensors; it is the name used on the wire and in
	// data files (e.g. "PS1").
	ID   string     `json:"id" yaml:"id"`
	Kind SensorKind `json:"kind" yaml:"kind"`
	// Column is the sensor's column name in column-keyed data files (the
	// header of SKAB's CSV files) when it differs from ID (e.g. SKAB's
	// "Volume Flow RateRMS"); empty means ID. Files named per sensor (the
	// UCI layout) are named by ID, never by Column: see UCIName.
	Column string `json:"column,omitempty" yaml:"column,omitempty"`
	// Unit must be one of the units of Kind (see Units).
	Unit string `json:"unit" yaml:"unit"`
	// RateHz is the sampling rate.
	RateHz float64 `json:"rate_hz" yaml:"rate_hz"`
	// Range is the measuring range in Unit (after Scale and Offset).
	Range Range `json:"range" yaml:"range"`
	// AccuracyPct is the accuracy in percent of full scale (0: unknown).
	AccuracyPct float64 `json:"accuracy_pct,omitempty" yaml:"accuracy_pct,omitempty"`
	// Resolution is the quantisation step in Unit (0: continuous).
	Resolution float64 `json:"resolution,omitempty" yaml:"resolution,omitempty"`
	// Calibration is the last calibration.
	Calibration Calibration `json:"calibration,omitzero" yaml:"calibration,omitempty"`
	// Component is the id of the component the sensor is attached to.
	Component string `json:"component" yaml:"component"`
	// Port says which side of the component the sensor measures: "in",
	// "out", "return" (tank/return port) or "gas" (accumulator gas side);
	// empty means the component as a whole (e.g. vibration, motor power).
	Port Port `json:"port,omitempty" yaml:"port,omitempty"`
	// Placement says in words where it sits and why, e.g. "pump outlet".
	Placement string `json:"placement,omitempty" yaml:"placement,omitempty"`
	// Virtual marks a computed signal (e.g. cooling efficiency).
	Virtual bool `json:"virtual,omitempty" yaml:"virtual,omitempty"`
	// Inactive excludes the sensor from ingest and models (zero: active).
	Inactive bool `json:"inactive,omitempty" yaml:"inactive,omitempty"`
	// MayDropOut says the sensor may be absent for whole windows in
	// service (a wireless or retrofitted sensor, a virtual signal whose
	// source can fail). Models trained for the rig then learn to judge
	// without it (models/train masks its whole window in some training
	// windows), and the agent keeps judging the targets and the
	// components' health when it is missing. A missing sensor without
	// the flag makes every class target of such a model not judged and,
	// for a model with a health head, every component's health status
	// (and the rig's) unknown; anomaly scores stay, per sensor
	// (docs/inference.md). Zero: the sensor is required. Not valid on an
	// inactive sensor.
	MayDropOut bool `json:"may_drop_out,omitempty" yaml:"may_drop_out,omitempty"`
	// MQTT is how the sensor's readings arrive.
	MQTT MQTTBinding `json:"mqtt" yaml:"mqtt"`
	// Scale and Offset convert a raw payload value to Unit:
	// value = raw*Scale + Offset. Scale 0 means 1.
	Scale  float64 `json:"scale,omitempty" yaml:"scale,omitempty"`
	Offset float64 `json:"offset,omitempty" yaml:"offset,omitempty"`
}

// Port is the side of a component a sensor measures.
type Port string

// Ports.
const (
	PortNone   Port = ""
	PortIn     Port = "in"
	PortOut    Port = "out"
	PortReturn Port = "return"
	PortGas    Port = "gas"
)

// Ports lists every port.
var Ports = []Port{PortNone, PortIn, PortOut, PortReturn, PortGas}

// ColumnName returns the sensor's column name in column-keyed data files
// (SKAB CSV headers): Column, or ID when Column is empty.
func (s *Sensor) ColumnName() string {
	if s.Column != "" {
		return s.Column
	}
	return s.ID
}

// UCIName returns the stem of the sensor's file in a UCI-layout folder
// ("<UCIName>.txt"): its ID, whatever Column says. It is the one naming
// rule for that layout, used by everything that writes one (the
// simulator, the fleet data-set builder, test fixtures) and everything
// that reads one (the trainer, rigctl bench split, rigsim compare). IDs
// always make valid file names there (IDPattern); columns need not (SKAB's
// hold spaces).
func (s *Sensor) UCIName() string {
	return s.ID
}

// Range is a closed interval [Min, Max] with Min < Max.
type Range struct {
	Min float64 `json:"min" yaml:"min"`
	Max float64 `json:"max" yaml:"max"`
}

// Calibration is a sensor's calibration record.
type Calibration struct {
	Date        Date   `json:"date,omitempty" yaml:"date,omitempty"`
	Due         Date   `json:"due,omitempty" yaml:"due,omitempty"`
	Certificate string `json:"certificate,omitempty" yaml:"certificate,omitempty"`
}

// MQTTBinding is a sensor's MQTT topic and payload codec.
type MQTTBinding struct {
	// Topic is the exact topic (no wildcards). Several sensors may share a
	// topic when its codec carries sensor ids (json-batch, sparkplugb, csv).
	Topic string `json:"topic" yaml:"topic"`
	// Codec is the payload format: json, json-batch, csv, binary,
	// sparkplugb, or plugin:NAME for an out-of-process codec.
	Codec string `json:"codec" yaml:"codec"`
	// QoS is the subscription QoS: 0, 1 or 2 (absent: 1, see QoSOrDefault).
	QoS *int `json:"qos,omitempty" yaml:"qos,omitempty"`
}

// Target is one diagnosis target of a rig type.
type Target struct {
	// Name is unique among targets, e.g. "cooler".
	Name string `json:"name" yaml:"name"`
	// Component is the component it describes (empty: the whole rig,
	// e.g. the stable flag).
	Component string `json:"component,omitempty" yaml:"component,omitempty"`
	// Description and Unit describe the class values, e.g. "%".
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
	Unit        string `json:"unit,omitempty" yaml:"unit,omitempty"`
	// Kind is "condition" (ordered degradation grades mapped to health)
	// or "flag" (a two-valued indicator that is not a component state).
	Kind TargetKind `json:"kind" yaml:"kind"`
	// Classes are the values the target takes, at least two.
	Classes []Class `json:"classes" yaml:"classes"`
}

// TargetKind is the kind of a diagnosis target.
type TargetKind string

// Target kinds.
const (
	TargetCondition TargetKind = "condition"
	TargetFlag      TargetKind = "flag"
)

// Class is one value of a target.
type Class struct {
	// Value is the label as written in data files (profile.txt).
	Value float64 `json:"value" yaml:"value"`
	// Label is a short name, e.g. "reduced efficiency".
	Label string `json:"label" yaml:"label"`
	// Health is the component health in [0, 1] this grade means (1:
	// as new). Required for condition targets.
	Health *float64 `json:"health,omitempty" yaml:"health,omitempty"`
	// Fault names the fault this grade is (e.g. "leakage"); empty for
	// the healthy grade.
	Fault Fault `json:"fault,omitempty" yaml:"fault,omitempty"`
}
