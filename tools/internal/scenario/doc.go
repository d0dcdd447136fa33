// Package scenario describes which faults a simulated rig has, and when: the
// fault schedule rigsim runs (see docs/simulator.md).
//
// A Scenario is a flat list of faults. Each Fault sets one condition of one
// component (cooler efficiency, valve switching condition, pump leakage
// grade, accumulator pre-charge, filter clogging, cavitation) or puts one
// fault on one sensor (drift, offset, stuck, dropout, spikes), for a range
// of cycles (1-based, inclusive) or of simulated time, or for the whole run.
//
//	faults:
//	  - {kind: cooler_efficiency, component: cooler_c1, value: 20, cycles: [1, 40]}
//	  - {kind: leakage, component: pump_mp1, value: 2, from: 10m, to: 20m}
//	  - {kind: sensor_spikes, sensor: FS1, value: 5, rate_hz: 0.2, cycles: [5]}
//
// Outside every range a component is healthy and a sensor is sound. Where
// ranges of the same kind on the same component overlap, the entry listed
// last wins; sensor faults of different kinds combine (dropout hides
// everything, stuck hides drift, offset and spikes).
//
// Parse and Load decode strictly (unknown keys, wrong types and bad values
// fail with file:line:col and the key path) and check everything that does
// not need the rig. Validate then binds a scenario to a firmware config:
// components and sensors must exist and have the right type, and a value
// for a component that a diagnosis target describes must be one of the
// target's class values, so that the simulated labels are valid classes.
//
// Random builds a UCI-like scenario for a config: runs of constant
// conditions of random length, each run giving the condition targets random
// class values. It is deterministic for a seed.
//
// A Scenario is plain data; it is safe for concurrent reads.
package scenario
