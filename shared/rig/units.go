package rig

import "time"

// Date is a calendar date written YYYY-MM-DD. Validate checks its form.
type Date string

// Time parses d. The zero Date gives the zero time and no error.
func (d Date) Time() (time.Time, error) {
	if d == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, string(d))
}

// Units maps each sensor kind to the units accepted for it. The first unit
// of each list is the canonical one used in docs and by the simulator.
var Units = map[SensorKind][]string{
	KindPressure:      {"bar", "kPa", "MPa", "Pa", "psi"},
	KindDiffPressure:  {"bar", "kPa", "MPa", "Pa", "psi"},
	KindFlow:          {"l/min", "m3/h", "gpm"},
	KindTemperature:   {"C", "K", "F"},
	KindVibration:     {"mm/s", "in/s"},
	KindAcceleration:  {"g", "m/s2"},
	KindPower:         {"W", "kW"},
	KindCurrent:       {"A", "mA"},
	KindVoltage:       {"V", "mV"},
	KindSpeed:         {"rpm", "rad/s"},
	KindPosition:      {"mm", "m", "%"},
	KindLevel:         {"%", "l", "mm"},
	KindEfficiency:    {"%"},
	KindContamination: {"ISO4406", "particles/ml"},
	KindHumidity:      {"%RH", "ppm"},
	KindTorque:        {"Nm"},
}

// SensorKinds lists every sensor kind in a stable order.
var SensorKinds = []SensorKind{KindPressure, KindDiffPressure, KindFlow, KindTemperature,
	KindVibration, KindAcceleration, KindPower, KindCurrent, KindVoltage, KindSpeed,
	KindPosition, KindLevel, KindEfficiency, KindContamination, KindHumidity, KindTorque}

// Fault is a kind of degradation a diagnosis can name. The first nine are
// the anomaly types of the earlier service; the rest name the faults of the
// UCI and simulated rigs precisely.
type Fault string

// Faults.
const (
	FaultPressureDrop    Fault = "pressure_drop"
	FaultOverheating     Fault = "overheating"
	FaultCavitation      Fault = "cavitation"
	FaultLeakage         Fault = "leakage"
	FaultVibration       Fault = "vibration"
	FaultFlowRestriction Fault = "flow_restriction"
	FaultContamination   Fault = "contamination"
	FaultSealDegradation Fault = "seal_degradation"
	FaultValveStiction   Fault = "valve_stiction"
	FaultCoolingLoss     Fault = "cooling_loss"
	FaultPrechargeLoss   Fault = "precharge_loss"
	FaultSensor          Fault = "sensor_fault"
	FaultUnstable        Fault = "unstable"
)

// Faults lists every fault in a stable order.
var Faults = []Fault{FaultPressureDrop, FaultOverheating, FaultCavitation, FaultLeakage,
	FaultVibration, FaultFlowRestriction, FaultContamination, FaultSealDegradation,
	FaultValveStiction, FaultCoolingLoss, FaultPrechargeLoss, FaultSensor, FaultUnstable}

// Codecs are the built-in payload codec names; "plugin:NAME" names an
// out-of-process codec.
var Codecs = []string{"json", "json-batch", "csv", "binary", "sparkplugb"}

// DefaultQoS is the MQTT QoS used when a sensor's binding sets none.
const DefaultQoS = 1

// QoSOrDefault returns the binding's QoS, or DefaultQoS when unset.
func (b MQTTBinding) QoSOrDefault() int {
	if b.QoS == nil {
		return DefaultQoS
	}
	return *b.QoS
}
