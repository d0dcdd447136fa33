// Package sim simulates a hydraulic rig described by a firmware config
// (shared/rig): the physics behind rigsim's data sets and live readings.
//
// # Model
//
// The config's components and connections become a lumped network: every
// group of joined ports is a node with a pressure and a volume (the lines'
// oil, compressible with an effective bulk modulus, plus accumulators and
// cylinder chambers on it); components are elements between nodes. Pumps
// deliver displacement x speed x filling minus a laminar internal leak;
// valves are orifices (Q = Cd A sqrt(2 dp / rho)) opened by a spool that
// follows the load program (Operation.LoadSteps) with a switching lag;
// relief valves, the load of a rig without actuators, and load-sensing pump
// controls are pressure characteristics; filters and coolers have a laminar
// plus turbulent drop; cylinders and hydraulic motors move quasi-statically
// against the load. Pressures are integrated with backward Euler at 1 kHz
// (Newton's method on the implicit step, with a line search), which keeps
// small volumes behind large orifices stable.
//
// Electric motors slip and engines droop with load; their power, current
// and body temperature follow from the pumps' shaft power. Heat: every flow
// carries the temperature of its source plus its throttling heat
// (dp / (rho c)) to its destination, pumps add their losses, coolers remove
// heat by an effectiveness-NTU law, and the tank integrates what returns to
// it minus its losses to the ambient. Viscosity follows temperature and
// feeds back into leakage and pressure drops. See docs/simulator.md for
// the equations, the sensor mapping and the calibration against the UCI
// data set.
//
// # Use
//
//	s, err := sim.New(cfg, sim.Options{Seed: 1, Scenario: sc})
//	err = s.Cycles(ctx, 10, func(c *sim.Cycle) error { ... })     // per-cycle samples and labels
//	set, err := s.Dataset(ctx, sim.DatasetOptions{Cycles: 100})  // a uci.Set
//	err = s.Stream(ctx, start, emit)                             // time-ordered reading batches
//
// New refuses, with an error wrapping ErrConfig, a config it cannot
// simulate: a sensor no mapping rule covers (Rules), a target it cannot
// label, an actuator not driven by a valve. Faults come from a
// scenario.Scenario; labels are the conditions of the targets' components
// (always one of the targets' class values) and the stable, anomaly and
// changepoint flags.
//
// A Sim stopped by ctx during its warm-up, or inside a cycle of Cycles,
// must be discarded: every later call returns an error saying so (it used
// to go on silently with all-zero or misaligned cycles). fn's or emit's
// own error leaves it usable.
//
// # Determinism
//
// The same config, calibration, options and seed give bit-identical
// output: every random draw comes from a PCG stream seeded by the seed and
// the name of what it serves (one per sensor's noise, one per sensor's
// spikes, one per pump's vibration), so adding a fault to one sensor does
// not change another's noise.
//
// # Concurrency
//
// A Sim is not safe for concurrent use; separate Sims are independent.
package sim
