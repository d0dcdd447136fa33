package infer

import (
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// Severity rules (see severityOfHealth and severityOfScore).
const (
	// CriticalHealth: a predicted condition class whose health (the
	// firmware config's class health) is below this is a critical fault:
	// near-total failure. Below diag.CriticalBelow it is high, below
	// diag.HealthyAt medium, and at or above diag.HealthyAt low.
	CriticalHealth = 0.15
	// MaxDrivers caps diag.ComponentHealth.Drivers.
	MaxDrivers = 3
)

// action is the maintenance text for one (component type, fault): Planned
// for severities up to medium, Urgent for high and critical.
type action struct {
	Planned, Urgent string
}

// actionKey selects an action; an empty Type is the fault's fallback for
// any component type.
type actionKey struct {
	Type  rig.ComponentType
	Fault rig.Fault
}

// actions is the one table of recommendation texts: (component type,
// fault) -> what to do. Lookup tries the component's type, then the
// fault alone, then anomalyAction (no fault named). Priority comes from
// the finding's severity, not from this table. Keep texts short,
// imperative and safe to act on without the model: they go to operators.
var actions = map[actionKey]action{
	{rig.HeatExchanger, rig.FaultCoolingLoss}: {
		"Clean the cooler (fins, core) and check its fan and coolant flow at the next stop.",
		"Reduce load and repair the cooler (fan, fins, coolant flow) now: the oil will overheat."},
	{rig.Valve, rig.FaultValveStiction}: {
		"Measure the valve's switching time; clean the spool and check the solenoid and pilot pressure at the next maintenance.",
		"Plan an immediate valve overhaul or replacement: switching is severely delayed."},
	{rig.Pump, rig.FaultLeakage}: {
		"Measure the pump's case-drain flow and plan an overhaul.",
		"Replace or overhaul the pump soon: internal leakage is severe and efficiency is lost."},
	{rig.Accumulator, rig.FaultPrechargeLoss}: {
		"Check the accumulator's gas pre-charge with a charging kit and top up nitrogen.",
		"Recharge the accumulator with nitrogen now and inspect the bladder or piston seal for gas loss."},
	{rig.Filter, rig.FaultContamination}: {
		"Replace the filter element and take an oil sample.",
		"Replace the filter element now and check the oil's cleanliness class before continuing."},
	{rig.Filter, rig.FaultFlowRestriction}: {
		"Replace the filter element; check the clogging indicator.",
		"Replace the filter element now: the bypass may be open."},
	// For the faults diag.NameAnomaly names from the anomaly head's
	// findings, where the component type says more than the fault.
	{rig.Motor, rig.FaultLeakage}: {
		"Measure the motor's case-drain flow and plan an overhaul.",
		"Overhaul or replace the motor soon: internal leakage is severe."},
	{rig.Cylinder, rig.FaultSealDegradation}: {
		"Check the cylinder for drift with the load held and plan a seal replacement.",
		"Lower the load and replace the cylinder's seals before further use: it may not hold the load."},
	{rig.Pump, rig.FaultVibration}: {
		"Check the pump's mounting, coupling alignment and bearings, and the suction side for cavitation.",
		"Stop the pump and inspect its bearings, coupling and suction side (cavitation)."},
	{"", rig.FaultLeakage}: {
		"Inspect for internal and external leakage (seals, fittings, drain flow).",
		"Stop and locate the leakage: fittings, seals and drain flow."},
	{"", rig.FaultSealDegradation}: {
		"Inspect the seals and plan their replacement.",
		"Replace the seals before the next shift."},
	{"", rig.FaultOverheating}: {
		"Check the oil level, the cooler and the relief-valve setting.",
		"Reduce load and find the heat source now (cooler, relief valve bypassing, oil level)."},
	{"", rig.FaultCavitation}: {
		"Check the suction line, the oil level and the inlet filter.",
		"Stop the pump and clear the suction side (inlet filter, oil level, air leaks)."},
	{"", rig.FaultVibration}: {
		"Check the mounting, the coupling alignment and the bearings.",
		"Stop and inspect the bearings and the coupling."},
	{"", rig.FaultPressureDrop}: {
		"Check the relief-valve setting and look for internal leakage.",
		"Find the cause of the pressure loss before continuing (relief valve, pump, leakage)."},
	{"", rig.FaultFlowRestriction}: {
		"Check the line for restrictions (filters, kinked hoses, partly closed valves).",
		"Clear the restriction now (filters, hoses, valves)."},
	{"", rig.FaultContamination}: {
		"Take an oil sample and replace the filter element.",
		"Change the filter and analyse the oil before continuing."},
	{"", rig.FaultValveStiction}: {
		"Check the valve's switching time and clean the spool.",
		"Overhaul or replace the valve."},
	{"", rig.FaultCoolingLoss}: {
		"Clean the cooler and check the cooling circuit.",
		"Reduce load and repair the cooling circuit now."},
	{"", rig.FaultPrechargeLoss}: {
		"Check and restore the accumulator's gas pre-charge.",
		"Recharge the accumulator now and check it for gas loss."},
	{"", rig.FaultSensor}: {
		"Check the sensor's wiring, power and gateway: it delivered no data, or too little, in the window.",
		"Repair the sensor's connection: without it the component cannot be judged."},
	{"", rig.FaultUnstable}: {
		"No action: the rig had not reached steady state; judge the next windows.",
		"No action: the rig had not reached steady state; judge the next windows."},
}

// anomalyAction is the text for an anomaly-head finding with no named
// fault: the sensors deviate from the normal behaviour the model learned.
var anomalyAction = action{
	"Inspect the component: its sensors deviate from normal operation (see drivers).",
	"Inspect the component now: its sensors deviate strongly from normal operation (see drivers).",
}

// actionFor returns the recommendation text for a fault on a component
// type at a severity.
func actionFor(t rig.ComponentType, f rig.Fault, sev diag.Severity) string {
	a, ok := actions[actionKey{t, f}]
	if !ok {
		a, ok = actions[actionKey{"", f}]
	}
	if !ok {
		a = anomalyAction
	}
	if sev == diag.SeverityHigh || sev == diag.SeverityCritical {
		return a.Urgent
	}
	return a.Planned
}

// severityOfHealth maps the health of a predicted condition class to a
// severity with the diag thresholds (see CriticalHealth).
func severityOfHealth(h float64) diag.Severity {
	switch {
	case h < CriticalHealth:
		return diag.SeverityCritical
	case h < diag.CriticalBelow:
		return diag.SeverityHigh
	case h < diag.HealthyAt:
		return diag.SeverityMedium
	}
	return diag.SeverityLow
}

// severityOfScore maps an anomaly score (1 = calibrated threshold) to a
// severity: [1, 2) low, [2, 4) medium, 4 and more high. The anomaly head
// alone never says critical: it knows that something deviates, not how
// close to failure it is.
func severityOfScore(s float64) diag.Severity {
	switch {
	case s >= 4:
		return diag.SeverityHigh
	case s >= 2:
		return diag.SeverityMedium
	}
	return diag.SeverityLow
}

// severityRank orders severities, most urgent highest.
func severityRank(s diag.Severity) int {
	switch s {
	case diag.SeverityCritical:
		return 4
	case diag.SeverityHigh:
		return 3
	case diag.SeverityMedium:
		return 2
	case diag.SeverityLow:
		return 1
	}
	return 0
}
