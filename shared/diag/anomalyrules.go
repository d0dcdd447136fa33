package diag

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Thresholds of the anomaly naming rules (NameAnomaly), in standard
// deviations of the bundle's normalisation statistics (shared/prep: a
// window mean of z means z standard deviations from the training data's
// mean).
const (
	// RuleClear is how far a sensor's window mean must lie from normal
	// for a rule to read it as above or below normal.
	RuleClear = 2.0
	// RuleNormal is how far below normal a sensor's window mean may lie
	// and still count as "at or above normal" (flow restriction's
	// pressure).
	RuleNormal = 0.5
	// RuleConfidence scales the anomaly head's confidence (1 - 1/score)
	// of a finding the rules name: physics rules over window means guess
	// a cause, so a rule-named fault is never as sure as a class head
	// trained on that fault, and never above 0.5.
	RuleConfidence = 0.5
	// RuleSpreadFloor is the smallest spread, as a fraction of the
	// sensor's configured measuring range (Evidence.Span), that the rules
	// measure a deviation in: a sensor whose normalisation std is
	// smaller (a composed or single-file calibration, e.g. SKAB's
	// Thermocouple at 0.043 degC on a 120 degC range) has its Z scaled
	// down as if its std were this floor, so "2 sd" is never less than
	// 0.4 % of the range (0.48 degC there).
	RuleSpreadFloor = 0.002
)

// Evidence is one input sensor of an anomalous component, as the naming
// rules read it.
type Evidence struct {
	Sensor string
	Kind   rig.SensorKind
	Port   rig.Port
	// Driver is true for a sensor the anomaly head scored at least 1
	// (the calibrated threshold).
	Driver bool
	// Z is the sensor's window mean in the bundle's normalised units
	// (over the cells with data): above 0 is above normal.
	Z float64
	// Std is the bundle's normalisation std of the sensor and Span its
	// configured measuring range (max - min), both in the sensor's
	// unit; when both are above 0 and Std < RuleSpreadFloor * Span the
	// rules read Z * Std / (RuleSpreadFloor * Span) instead of Z.
	Std, Span float64
}

// ruleZ is e's Z as the rules read it: measured in a spread of at least
// RuleSpreadFloor of the sensor's range.
func (e Evidence) ruleZ() float64 {
	if floor := RuleSpreadFloor * e.Span; e.Std > 0 && floor > 0 && e.Std < floor {
		return e.Z * e.Std / floor
	}
	return e.Z
}

// Named is the fault the rules name for an anomaly, with the evidence.
type Named struct {
	Fault rig.Fault
	// Sensors are the sensors whose deviation the rule read, driver
	// first.
	Sensors []string
	// Reason says it in words, e.g. "V_PUMP 4.1 sd above normal:
	// vibration suspected (one sensor: check V_PUMP against a second
	// reading, a sensor offset or drift reads the same)".
	Reason string
}

// NameAnomaly names the fault of an anomaly-head finding on a component
// of type ct that no class head explains, from the window means of the
// component's sensors (ev), or reports false: the anomaly stays
// unexplained. It names a fault only when exactly one rule matches,
// after a rule whose evidence contains another's (cavitation contains
// vibration) takes its place, and that rule accounts for every driver
// whose mean deviates clearly (|Z| >= RuleClear); drivers whose mean is
// near normal (a changed shape, not a shifted level) neither count nor
// count against. Sensors without a finite Z are ignored; Z is read in a
// spread of at least RuleSpreadFloor of the sensor's range (Std, Span).
// A rule that rests on one sensor cannot tell the fault from that
// sensor's offset or drift: its reason says so and asks for the sensor
// to be checked against a second reading. The rules (up = Z >=
// RuleClear, down = Z <= -RuleClear; "driver" = Driver true):
//
//	overheating       a temperature driver up
//	vibration         a vibration or acceleration driver up
//	cavitation        a pump: an inlet (port in) pressure down and a
//	                  vibration or acceleration driver up, or a flow down
//	                  (one of the two a driver: suction starvation)
//	pressure_drop     a pressure driver down, not on a filter
//	contamination     a contamination driver up; or a filter's
//	                  differential pressure driver up, no flow of it down
//	flow_restriction  a filter's differential pressure up and a flow of it
//	                  down (one of them a driver); or a filter's outlet
//	                  (port out) pressure driver down with an inlet
//	                  pressure at or above normal (Z > -RuleNormal); or,
//	                  not on a filter, a flow driver down and a pressure
//	                  of the component at or above normal
//	leakage           a pump or motor: a flow down and a pressure down
//	                  (one of them a driver; on a pump not an inlet
//	                  pressure), every such pair
//	seal_degradation  the same on a cylinder or actuator
//	valve_stiction    a valve: a position driver up or down (the spool
//	                  does not reach its usual travel)
func NameAnomaly(ct rig.ComponentType, ev []Evidence) (Named, bool) {
	type match struct {
		fault rig.Fault
		why   string
		es    []Evidence
	}
	var cands []match
	add := func(f rig.Fault, why string, es ...Evidence) {
		// Matches of one fault are one match (both cooler temperatures
		// up).
		if i := slices.IndexFunc(cands, func(m match) bool { return m.fault == f }); i >= 0 {
			for _, e := range es {
				if !slices.ContainsFunc(cands[i].es, func(o Evidence) bool { return o.Sensor == e.Sensor }) {
					cands[i].es = append(cands[i].es, e)
				}
			}
			return
		}
		cands = append(cands, match{f, why, es})
	}
	up := func(e Evidence) bool { return e.Z >= RuleClear }
	down := func(e Evidence) bool { return e.Z <= -RuleClear }
	var es []Evidence
	for _, e := range ev {
		if e.Z = e.ruleZ(); !math.IsNaN(e.Z) && !math.IsInf(e.Z, 0) {
			es = append(es, e)
		}
	}
	pick := func(ok func(Evidence) bool, driver bool, kinds ...rig.SensorKind) []Evidence {
		var out []Evidence
		for _, e := range es {
			if slices.Contains(kinds, e.Kind) && ok(e) && (!driver || e.Driver) {
				out = append(out, e)
			}
		}
		return out
	}
	// pairs adds fault f for every pair of a and b one of which is a
	// driver (the driver first), so that the merged match holds all the
	// evidence (leakage then contains every pressure drop), and reports
	// whether there was one.
	pairs := func(f rig.Fault, why string, a, b []Evidence) bool {
		found := false
		for _, x := range a {
			for _, y := range b {
				if x.Driver || y.Driver {
					if !x.Driver {
						x, y = y, x
					}
					add(f, why, x, y)
					found = true
				}
			}
		}
		return found
	}
	port := func(in bool, from []Evidence) []Evidence {
		var out []Evidence
		for _, e := range from {
			if (e.Port == rig.PortIn) == in {
				out = append(out, e)
			}
		}
		return out
	}
	vib := pick(up, true, rig.KindVibration, rig.KindAcceleration)
	flowDown := pick(down, false, rig.KindFlow)
	pressDown := pick(down, false, rig.KindPressure)
	for _, e := range pick(up, true, rig.KindTemperature) {
		add(rig.FaultOverheating, "overheating", e)
	}
	for _, e := range vib {
		add(rig.FaultVibration, "vibration", e)
	}
	if ct == rig.Pump {
		for _, v := range vib {
			for _, p := range port(true, pressDown) {
				add(rig.FaultCavitation, "cavitation", v, p)
			}
		}
		// Flow down with the inlet pressure down: the pump is starved
		// on its suction side, not leaking.
		pairs(rig.FaultCavitation, "cavitation (suction starvation)", flowDown, port(true, pressDown))
	}
	if ct != rig.Filter {
		for _, e := range pick(down, true, rig.KindPressure) {
			add(rig.FaultPressureDrop, "pressure drop", e)
		}
	}
	for _, e := range pick(up, true, rig.KindContamination) {
		add(rig.FaultContamination, "contamination", e)
	}
	if ct == rig.Filter {
		dp := pick(up, false, rig.KindDiffPressure)
		if !pairs(rig.FaultFlowRestriction, "flow restriction", dp, flowDown) && len(flowDown) == 0 {
			for _, e := range dp {
				if e.Driver {
					add(rig.FaultContamination, "contamination (filter loading)", e)
				}
			}
		}
		// Without a differential-pressure sensor: the outlet pressure
		// falls while the inlet holds, the element is loading.
		for _, o := range pick(down, true, rig.KindPressure) {
			if o.Port != rig.PortOut {
				continue
			}
			for _, i := range pick(func(e Evidence) bool { return e.Z > -RuleNormal }, false, rig.KindPressure) {
				if i.Port == rig.PortIn {
					add(rig.FaultFlowRestriction, "flow restriction (filter loading)", o, i)
				}
			}
		}
	} else {
		for _, f := range pick(down, true, rig.KindFlow) {
			for _, p := range pick(func(e Evidence) bool { return e.Z > -RuleNormal }, false, rig.KindPressure) {
				add(rig.FaultFlowRestriction, "flow restriction", f, p)
			}
		}
	}
	switch ct {
	case rig.Pump:
		pairs(rig.FaultLeakage, "leakage", flowDown, port(false, pressDown))
	case rig.Motor:
		pairs(rig.FaultLeakage, "leakage", flowDown, pressDown)
	case rig.Cylinder, rig.Actuator:
		pairs(rig.FaultSealDegradation, "seal degradation", flowDown, pressDown)
	}
	if ct == rig.Valve {
		for _, e := range pick(func(e Evidence) bool { return up(e) || down(e) }, true, rig.KindPosition) {
			add(rig.FaultValveStiction, "valve stiction", e)
		}
	}
	// A match whose sensors another match contains gives way to it.
	sensors := func(m match) []string {
		var ids []string
		for _, e := range m.es {
			ids = append(ids, e.Sensor)
		}
		return ids
	}
	var kept []match
	for i, c := range cands {
		subsumed := false
		for j, o := range cands {
			if i != j && len(o.es) > len(c.es) && containsAll(sensors(o), sensors(c)) {
				subsumed = true
				break
			}
		}
		if !subsumed {
			kept = append(kept, c)
		}
	}
	if len(kept) != 1 {
		return Named{}, false
	}
	m := kept[0]
	n := Named{Fault: m.fault, Sensors: sensors(m)}
	for _, e := range es {
		if e.Driver && (up(e) || down(e)) && !slices.Contains(n.Sensors, e.Sensor) {
			return Named{}, false // a clear deviation the rule does not explain
		}
	}
	parts := make([]string, 0, len(m.es))
	for _, e := range m.es {
		dir := "above"
		if e.Z < 0 {
			dir = "below"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f sd %s normal", e.Sensor, math.Abs(e.Z), dir))
	}
	n.Reason = strings.Join(parts, ", ") + ": " + m.why + " suspected"
	if len(m.es) == 1 {
		n.Reason += fmt.Sprintf(" (one sensor: check %s against a second reading, a sensor offset or drift reads the same)", m.es[0].Sensor)
	}
	return n, true
}

// containsAll reports whether every element of sub is in set.
func containsAll(set, sub []string) bool {
	for _, s := range sub {
		if !slices.Contains(set, s) {
			return false
		}
	}
	return true
}

// AnomalyConfidence is the anomaly head's confidence in a finding on a
// component of anomaly score (at least 1): 1 - 1/score, 0 at the
// calibrated threshold and towards 1 far above it.
func AnomalyConfidence(score float64) float64 { return 1 - 1/score }

// NamedConfidence is the confidence of an anomaly-head finding the rules
// named (NameAnomaly), on a component of anomaly score: the anomaly
// head's times RuleConfidence. The agent's Diagnose writes it and
// SuspectedFault recognises it, so the two change together; agents that
// predate it wrote the same value, (1 - 1/score) * 0.5.
func NamedConfidence(score float64) float64 { return AnomalyConfidence(score) * RuleConfidence }

// SuspectedFault reports whether a, an anomaly of d, is an anomaly-head
// finding that NameAnomaly named: a fault suspected from window means,
// which may change from window to window while the anomaly persists
// (the cloud keys such a finding's alert by the anomaly, not the name).
// The wire carries no marker, so it is read from what Diagnose writes:
// a fault on a component whose anomaly score is at least 1 and a
// confidence of exactly NamedConfidence of the score (a class
// head's is its class probability; a class head that blames the
// component also keeps the anomaly head's finding off it).
func SuspectedFault(d *Diagnosis, a *Anomaly) bool {
	if a.Fault == "" || len(a.Components) == 0 {
		return false
	}
	for i := range d.Components {
		c := &d.Components[i]
		if c.ID != a.Components[0] {
			continue
		}
		if c.AnomalyScore < 1 {
			return false
		}
		return math.Abs(a.Confidence-NamedConfidence(c.AnomalyScore)) <= 1e-12
	}
	return false
}
