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
}

// Named is the fault the rules name for an anomaly, with the evidence.
type Named struct {
	Fault rig.Fault
	// Sensors are the sensors whose deviation the rule read, driver
	// first.
	Sensors []string
	// Reason says it in words, e.g. "V_PUMP 4.1 sd above normal:
	// vibration suspected".
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
// count against. Sensors without a finite Z are ignored. The rules (up
// = Z >= RuleClear, down = Z <= -RuleClear; "driver" = Driver true):
//
//	overheating       a temperature driver up
//	vibration         a vibration or acceleration driver up
//	cavitation        a pump: a vibration or acceleration driver up and an
//	                  inlet (port in) pressure down
//	pressure_drop     a pressure driver down
//	contamination     a contamination driver up; or a filter's
//	                  differential pressure driver up, no flow of it down
//	flow_restriction  a filter's differential pressure up and a flow of it
//	                  down (one of them a driver); or, not on a filter, a
//	                  flow driver down and a pressure of the component at
//	                  or above normal (Z > -RuleNormal)
//	leakage           a pump or motor: a flow down and a pressure down
//	                  (one of them a driver)
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
		if !math.IsNaN(e.Z) && !math.IsInf(e.Z, 0) {
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
	anyDriver := func(a, b []Evidence) (Evidence, Evidence, bool) {
		for _, x := range a {
			for _, y := range b {
				if x.Driver || y.Driver {
					if !x.Driver {
						x, y = y, x
					}
					return x, y, true
				}
			}
		}
		return Evidence{}, Evidence{}, false
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
			for _, p := range pressDown {
				if p.Port == rig.PortIn {
					add(rig.FaultCavitation, "cavitation", v, p)
				}
			}
		}
	}
	for _, e := range pick(down, true, rig.KindPressure) {
		add(rig.FaultPressureDrop, "pressure drop", e)
	}
	for _, e := range pick(up, true, rig.KindContamination) {
		add(rig.FaultContamination, "contamination", e)
	}
	if ct == rig.Filter {
		dp := pick(up, false, rig.KindDiffPressure)
		if x, y, ok := anyDriver(dp, flowDown); ok {
			add(rig.FaultFlowRestriction, "flow restriction", x, y)
		} else if len(flowDown) == 0 {
			for _, e := range dp {
				if e.Driver {
					add(rig.FaultContamination, "contamination (filter loading)", e)
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
	if x, y, ok := anyDriver(flowDown, pressDown); ok {
		switch ct {
		case rig.Pump, rig.Motor:
			add(rig.FaultLeakage, "leakage", x, y)
		case rig.Cylinder, rig.Actuator:
			add(rig.FaultSealDegradation, "seal degradation", x, y)
		}
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
