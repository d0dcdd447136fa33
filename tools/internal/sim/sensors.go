package sim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Rule maps sensors of one kind on one component type, at some ports, to a
// physical quantity of the simulation. Rules lists every mapping the
// simulator knows; a sensor no rule matches is refused by New.
type Rule struct {
	Types    []rig.ComponentType
	Kind     rig.SensorKind
	Ports    []rig.Port
	Quantity string // what is measured, in words
	Unit     string // the simulator's unit (converted to the sensor's)

	make func(pl *plant, id string, port rig.Port) (func() float64, error)
}

// PortList formats the rule's ports ("" as "(none)").
func (r *Rule) PortList() string {
	s := make([]string, len(r.Ports))
	for i, p := range r.Ports {
		if p == rig.PortNone {
			s[i] = "(none)"
		} else {
			s[i] = string(p)
		}
	}
	return strings.Join(s, ", ")
}

var (
	anyPort   = []rig.Port{rig.PortNone, rig.PortIn, rig.PortOut}
	noPort    = []rig.Port{rig.PortNone}
	inOut     = []rig.Port{rig.PortIn, rig.PortOut}
	valvePort = []rig.Port{rig.PortIn, rig.PortOut, rig.PortReturn}
	passives  = []rig.ComponentType{rig.Filter, rig.HeatExchanger, rig.Heater}
	drivers   = []rig.ComponentType{rig.ElectricMotor, rig.Engine}
)

func l2lpm(q float64) float64  { return q / lpmM3s }
func pa2bar(p float64) float64 { return p / barPa }

// nodeFn returns a function reading the pressure or temperature of the node
// behind a component's port.
func nodeOf(pl *plant, id string, port rig.Port) (int, error) {
	k := ""
	switch port {
	case rig.PortIn:
		k = "in"
	case rig.PortOut, rig.PortNone:
		k = "out"
	case rig.PortReturn:
		k = "ret"
	}
	if v, ok := pl.byID[id].(*valve); ok && port == rig.PortOut && v.role == roleWorking && len(v.sections) > 0 {
		return v.sections[0].a, nil
	}
	if v, ok := pl.byID[id].(*valve); ok && port == rig.PortIn {
		return v.in, nil
	}
	n, ok := pl.keyNode[key(id, k)]
	if !ok {
		return 0, fmt.Errorf("%s has no line at port %q", id, port)
	}
	return n, nil
}

func pressureAt(pl *plant, n int) func() float64 {
	return func() float64 { return pa2bar(pr(pl.p, n)) }
}

func tempAtFn(pl *plant, n int) func() float64 {
	return func() float64 { return pl.tempAt(n) }
}

// Rules lists the sensor mappings (see docs/simulator.md).
var Rules = []Rule{
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindPressure, Ports: []rig.Port{rig.PortOut, rig.PortNone},
		Quantity: "outlet pressure", Unit: "bar", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return pressureAt(pl, pm.out), nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindPressure, Ports: []rig.Port{rig.PortIn},
		Quantity: "inlet (suction) pressure, gauge", Unit: "bar", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pa2bar(pm.pIn) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindDiffPressure, Ports: noPort,
		Quantity: "outlet minus inlet pressure", Unit: "bar", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pa2bar(pm.pOut - pm.pIn) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindFlow, Ports: []rig.Port{rig.PortOut, rig.PortNone},
		Quantity: "delivered flow (after internal leakage)", Unit: "l/min", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return l2lpm(pm.q) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindFlow, Ports: []rig.Port{rig.PortIn},
		Quantity: "suction flow (delivery plus internal leakage)", Unit: "l/min", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return l2lpm(pm.q + pm.elem.gl*math.Max(pm.pOut, 0)) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindTemperature, Ports: []rig.Port{rig.PortOut, rig.PortNone},
		Quantity: "outlet fluid temperature (tank plus pump losses)", Unit: "C", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			return tempAtFn(pl, pl.byID[id].(*pump).out), nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindTemperature, Ports: []rig.Port{rig.PortIn},
		Quantity: "inlet fluid temperature (tank)", Unit: "C", make: func(pl *plant, _ string, _ rig.Port) (func() float64, error) {
			return func() float64 { return pl.tankT }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindVibration, Ports: noPort,
		Quantity: "housing vibration, RMS velocity (speed, pressure, leakage wear, cavitation bursts)", Unit: "mm/s",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pm.vib }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindAcceleration, Ports: noPort,
		Quantity: "housing vibration, RMS acceleration at 9 x shaft frequency", Unit: "g",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pm.vib / 1000 * 2 * math.Pi * 9 * pm.speed / 60 / gravity }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindSpeed, Ports: noPort,
		Quantity: "shaft speed", Unit: "rpm", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pm.speed }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindPower, Ports: noPort,
		Quantity: "hydraulic output power", Unit: "W", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return math.Max(0, pm.hyd) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindTorque, Ports: noPort,
		Quantity: "shaft torque", Unit: "Nm", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 { return pm.shaft / (math.Max(pm.speed, 1) * 2 * math.Pi / 60) }, nil
		}},
	{Types: []rig.ComponentType{rig.Pump}, Kind: rig.KindEfficiency, Ports: noPort,
		Quantity: "efficiency factor SE: power the pump delivers to the loads / driver input power", Unit: "%",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			pm := pl.byID[id].(*pump)
			return func() float64 {
				in := pm.shaft
				if pm.drv != nil {
					in = pm.drv.input * pm.shaft / math.Max(pm.drv.shaft, 1e-9)
				}
				if in <= 0 {
					return 0
				}
				return seFactor(pm.useful, pm.hyd, in)
			}, nil
		}},

	{Types: drivers, Kind: rig.KindPower, Ports: noPort,
		Quantity: "electrical input power (motors), shaft power (engines)", Unit: "W",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 { return d.input }, nil
		}},
	{Types: []rig.ComponentType{rig.ElectricMotor}, Kind: rig.KindCurrent, Ports: noPort,
		Quantity: "supply current (line current for three-phase)", Unit: "A",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return d.current, nil
		}},
	{Types: []rig.ComponentType{rig.ElectricMotor}, Kind: rig.KindVoltage, Ports: noPort,
		Quantity: "supply voltage at the terminals", Unit: "V",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			return pl.byID[id].(*driver).voltage, nil
		}},
	{Types: drivers, Kind: rig.KindSpeed, Ports: noPort,
		Quantity: "shaft speed (slip or governor droop with load)", Unit: "rpm",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 { return d.speed }, nil
		}},
	{Types: drivers, Kind: rig.KindTorque, Ports: noPort,
		Quantity: "shaft torque", Unit: "Nm", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 { return d.torque }, nil
		}},
	{Types: drivers, Kind: rig.KindTemperature, Ports: noPort,
		Quantity: "body temperature (ambient plus a rise with losses)", Unit: "C",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 { return d.body }, nil
		}},
	{Types: []rig.ComponentType{rig.ElectricMotor}, Kind: rig.KindEfficiency, Ports: noPort,
		Quantity: "motor efficiency: shaft / electrical power", Unit: "%",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 {
				if d.input <= 0 {
					return 0
				}
				return 100 * d.shaft / d.input
			}, nil
		}},
	{Types: drivers, Kind: rig.KindVibration, Ports: noPort,
		Quantity: "housing vibration: half that of the pumps it drives", Unit: "mm/s",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			d := pl.byID[id].(*driver)
			return func() float64 {
				v := 0.0
				for _, pm := range d.pumps {
					v = math.Max(v, 0.5*pm.vib)
				}
				return v
			}, nil
		}},

	{Types: []rig.ComponentType{rig.Valve}, Kind: rig.KindPressure, Ports: valvePort,
		Quantity: "pressure at the port: in = supply, out = load side (first section), return = tank port",
		Unit:     "bar", make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			v := pl.byID[id].(*valve)
			if v.role == roleSuction {
				return nil, fmt.Errorf("valve %s sits in a suction line; the simulator has no node there", id)
			}
			n, err := nodeOf(pl, id, port)
			if err != nil {
				return nil, err
			}
			return pressureAt(pl, n), nil
		}},
	{Types: []rig.ComponentType{rig.Valve}, Kind: rig.KindDiffPressure, Ports: noPort,
		Quantity: "supply minus load-side pressure", Unit: "bar",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			in, err := nodeOf(pl, id, rig.PortIn)
			if err != nil {
				return nil, err
			}
			out, err := nodeOf(pl, id, rig.PortOut)
			if err != nil {
				return nil, err
			}
			return func() float64 { return pa2bar(pr(pl.p, in) - pr(pl.p, out)) }, nil
		}},
	{Types: []rig.ComponentType{rig.Valve}, Kind: rig.KindFlow, Ports: valvePort,
		Quantity: "flow: in/out = through the valve to its load sides (relief: over the relief), return = out of the tank port",
		Unit:     "l/min", make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			v := pl.byID[id].(*valve)
			switch {
			case v.role == roleRelief:
				return func() float64 { return l2lpm(v.relief.q) }, nil
			case v.role == roleSuction:
				return nil, fmt.Errorf("valve %s sits in a suction line; give the flow at the pump", id)
			case port == rig.PortReturn:
				return func() float64 {
					q := 0.0
					for _, s := range v.sections {
						if s.load != nil {
							q += s.load.q + s.vent.q
						} else {
							q += s.bt.q + s.at.q
						}
					}
					return l2lpm(q)
				}, nil
			}
			return func() float64 {
				q := 0.0
				for _, s := range v.sections {
					q += s.pa.q
					if s.pb != nil {
						q += s.pb.q
					}
				}
				return l2lpm(q)
			}, nil
		}},
	{Types: []rig.ComponentType{rig.Valve}, Kind: rig.KindPosition, Ports: noPort,
		Quantity: "spool opening of the first section (working valves), in % of full stroke", Unit: "%",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			v := pl.byID[id].(*valve)
			if len(v.sections) == 0 {
				return nil, fmt.Errorf("valve %s is not switched by the load program", id)
			}
			s := v.sections[0]
			return func() float64 { return 100 * math.Abs(s.x) }, nil
		}},
	{Types: []rig.ComponentType{rig.Valve}, Kind: rig.KindTemperature, Ports: valvePort,
		Quantity: "fluid temperature at the port (throttling heats the outlet)", Unit: "C",
		make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			n, err := nodeOf(pl, id, port)
			if err != nil {
				return nil, err
			}
			return tempAtFn(pl, n), nil
		}},

	{Types: []rig.ComponentType{rig.Accumulator}, Kind: rig.KindPressure, Ports: anyPort,
		Quantity: "oil pressure", Unit: "bar", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			return pressureAt(pl, pl.byID[id].(*accumulator).node), nil
		}},
	{Types: []rig.ComponentType{rig.Accumulator}, Kind: rig.KindPressure, Ports: []rig.Port{rig.PortGas},
		Quantity: "gas pressure (the pre-charge while it holds no oil)", Unit: "bar",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			a := pl.byID[id].(*accumulator)
			return func() float64 { return pa2bar(a.gasPressure()) }, nil
		}},
	{Types: []rig.ComponentType{rig.Accumulator}, Kind: rig.KindFlow, Ports: anyPort,
		Quantity: "flow into the accumulator (negative: out of it)", Unit: "l/min",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			a := pl.byID[id].(*accumulator)
			return func() float64 { return l2lpm(a.q) }, nil
		}},
	{Types: []rig.ComponentType{rig.Accumulator}, Kind: rig.KindLevel, Ports: noPort,
		Quantity: "oil held, in % of the gas volume (l: litres)", Unit: "%",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			a := pl.byID[id].(*accumulator)
			return func() float64 { return 100 * a.oil / a.v0 }, nil
		}},
	{Types: []rig.ComponentType{rig.Accumulator}, Kind: rig.KindTemperature, Ports: anyPort,
		Quantity: "oil temperature", Unit: "C", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			return tempAtFn(pl, pl.byID[id].(*accumulator).node), nil
		}},

	{Types: passives, Kind: rig.KindPressure, Ports: inOut,
		Quantity: "pressure at the port", Unit: "bar", make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			n := ps.in
			if port == rig.PortOut {
				n = ps.out
			}
			return pressureAt(pl, n), nil
		}},
	{Types: passives, Kind: rig.KindDiffPressure, Ports: noPort,
		Quantity: "pressure drop, in minus out (grows with flow, viscosity and clogging)", Unit: "bar",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			return func() float64 { return pa2bar(ps.res.dp) }, nil
		}},
	{Types: passives, Kind: rig.KindFlow, Ports: anyPort,
		Quantity: "flow through", Unit: "l/min", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			return func() float64 { return l2lpm(ps.res.q) }, nil
		}},
	{Types: passives, Kind: rig.KindTemperature, Ports: inOut,
		Quantity: "fluid temperature at the port", Unit: "C",
		make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			if port == rig.PortOut {
				return func() float64 { return ps.tOut }, nil
			}
			return func() float64 { return ps.tIn }, nil
		}},
	{Types: []rig.ComponentType{rig.HeatExchanger}, Kind: rig.KindEfficiency, Ports: noPort,
		Quantity: "cooling efficiency CE: (T_in - T_out) / (T_in - T_ambient)", Unit: "%",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			return func() float64 {
				d := ps.tIn - pl.ambient
				if math.Abs(d) < 0.1 {
					return 0
				}
				return 100 * (ps.tIn - ps.tOut) / d
			}, nil
		}},
	{Types: []rig.ComponentType{rig.HeatExchanger, rig.Heater}, Kind: rig.KindPower, Ports: noPort,
		Quantity: "cooling power CP: rho c Q (T_in - T_out) (heaters: heating power)", Unit: "W",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			ps := pl.byID[id].(*passive)
			rc := pl.fl.rho * pl.fl.cp
			return func() float64 {
				if ps.typ == rig.Heater {
					return ps.heat
				}
				return rc * math.Abs(ps.res.q) * (ps.tIn - ps.tOut)
			}, nil
		}},

	{Types: []rig.ComponentType{rig.Reservoir}, Kind: rig.KindTemperature, Ports: anyPort,
		Quantity: "tank fluid temperature", Unit: "C", make: func(pl *plant, _ string, _ rig.Port) (func() float64, error) {
			return func() float64 { return pl.tankT }, nil
		}},
	{Types: []rig.ComponentType{rig.Reservoir}, Kind: rig.KindPressure, Ports: anyPort,
		Quantity: "tank pressure (vented: 0 gauge)", Unit: "bar", make: func(*plant, string, rig.Port) (func() float64, error) {
			return func() float64 { return 0 }, nil
		}},
	{Types: []rig.ComponentType{rig.Reservoir}, Kind: rig.KindLevel, Ports: noPort,
		Quantity: "fill level: 80 % less the oil held in accumulators and cylinders (l: litres)", Unit: "%",
		make: func(pl *plant, _ string, _ rig.Port) (func() float64, error) {
			return func() float64 { return 100 * pl.tankFluid() / (pl.tankVol / 0.8) }, nil
		}},

	{Types: []rig.ComponentType{rig.Cylinder, rig.Actuator}, Kind: rig.KindPressure, Ports: inOut,
		Quantity: "chamber pressure: in = cap side, out = rod side", Unit: "bar",
		make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			c := pl.byID[id].(*cylinder)
			n := c.cap
			if port == rig.PortOut {
				n = c.rod
			}
			return pressureAt(pl, n), nil
		}},
	{Types: []rig.ComponentType{rig.Cylinder, rig.Actuator}, Kind: rig.KindPosition, Ports: noPort,
		Quantity: "rod position from fully retracted (%: of the stroke)", Unit: "mm",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			c := pl.byID[id].(*cylinder)
			return func() float64 { return c.x * 1000 }, nil
		}},
	{Types: []rig.ComponentType{rig.Cylinder, rig.Actuator}, Kind: rig.KindFlow, Ports: inOut,
		Quantity: "flow into the cap side (in) or out of the rod side (out)", Unit: "l/min",
		make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			c := pl.byID[id].(*cylinder)
			if port == rig.PortOut {
				return func() float64 { return l2lpm(c.arod * c.elem.v) }, nil
			}
			return func() float64 { return l2lpm(c.acap * c.elem.v) }, nil
		}},
	{Types: []rig.ComponentType{rig.Cylinder, rig.Actuator, rig.Motor, rig.Manifold}, Kind: rig.KindTemperature, Ports: anyPort,
		Quantity: "fluid temperature at the port", Unit: "C",
		make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			n, err := nodeOf(pl, id, port)
			if err != nil {
				return nil, err
			}
			return tempAtFn(pl, n), nil
		}},

	{Types: []rig.ComponentType{rig.Motor}, Kind: rig.KindPressure, Ports: inOut,
		Quantity: "port pressure", Unit: "bar", make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			m := pl.byID[id].(*hmotor)
			n := m.in
			if port == rig.PortOut {
				n = m.out
			}
			return pressureAt(pl, n), nil
		}},
	{Types: []rig.ComponentType{rig.Motor}, Kind: rig.KindSpeed, Ports: noPort,
		Quantity: "shaft speed (signed by direction)", Unit: "rpm",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			m := pl.byID[id].(*hmotor)
			return func() float64 { return m.elem.omega * 60 / (2 * math.Pi) }, nil
		}},
	{Types: []rig.ComponentType{rig.Motor}, Kind: rig.KindFlow, Ports: anyPort,
		Quantity: "flow through the motor (signed by direction)", Unit: "l/min",
		make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			m := pl.byID[id].(*hmotor)
			return func() float64 { return l2lpm(m.dispRad * m.elem.omega) }, nil
		}},
	{Types: []rig.ComponentType{rig.Motor}, Kind: rig.KindTorque, Ports: noPort,
		Quantity: "output torque", Unit: "Nm", make: func(pl *plant, id string, _ rig.Port) (func() float64, error) {
			m := pl.byID[id].(*hmotor)
			return func() float64 { return (pr(pl.p, m.in) - pr(pl.p, m.out)) * m.dispRad * m.etaHM }, nil
		}},

	{Types: []rig.ComponentType{rig.Manifold}, Kind: rig.KindPressure, Ports: anyPort,
		Quantity: "pressure", Unit: "bar", make: func(pl *plant, id string, port rig.Port) (func() float64, error) {
			n, err := nodeOf(pl, id, port)
			if err != nil {
				return nil, err
			}
			return pressureAt(pl, n), nil
		}},
}

// tankFluid is the fluid in the tank: its volume less what accumulators
// and cylinders hold beyond their starting state.
func (pl *plant) tankFluid() float64 {
	v := pl.tankVol
	for _, a := range pl.accs {
		v -= a.oil
	}
	for _, c := range pl.cyls {
		v -= (c.acap - c.arod) * c.x
	}
	return v
}

// findRule returns the rule for a sensor on a component type.
func findRule(t rig.ComponentType, k rig.SensorKind, p rig.Port) (*Rule, error) {
	var ports []string
	for i := range Rules {
		r := &Rules[i]
		if r.Kind != k || !slices.Contains(r.Types, t) {
			continue
		}
		if slices.Contains(r.Ports, p) {
			return r, nil
		}
		ports = append(ports, r.PortList())
	}
	if ports == nil {
		var kinds []string
		for _, r := range Rules {
			if slices.Contains(r.Types, t) && !slices.Contains(kinds, string(r.Kind)) {
				kinds = append(kinds, string(r.Kind))
			}
		}
		if kinds == nil {
			return nil, fmt.Errorf("the simulator has no sensor quantities for a %s", t)
		}
		return nil, fmt.Errorf("the simulator cannot produce %s on a %s (it can: %s)", k, t, strings.Join(kinds, ", "))
	}
	return nil, fmt.Errorf("the simulator cannot produce %s at port %q of a %s (ports: %s)", k, p, t, strings.Join(ports, "; "))
}

// conversion from the simulator's unit to a sensor unit: v*scale + offset.
func conversion(kind rig.SensorKind, from, to string) (scale, offset float64, err error) {
	if from == to {
		return 1, 0, nil
	}
	type pair struct{ from, to string }
	table := map[pair][2]float64{
		{"bar", "kPa"}: {100, 0}, {"bar", "MPa"}: {0.1, 0}, {"bar", "Pa"}: {1e5, 0}, {"bar", "psi"}: {14.503773773, 0},
		{"l/min", "m3/h"}: {0.06, 0}, {"l/min", "gpm"}: {0.264172052, 0},
		{"C", "K"}: {1, 273.15}, {"C", "F"}: {1.8, 32},
		{"mm/s", "in/s"}: {1 / 25.4, 0},
		{"g", "m/s2"}:    {gravity, 0},
		{"W", "kW"}:      {1e-3, 0},
		{"A", "mA"}:      {1e3, 0},
		{"V", "mV"}:      {1e3, 0},
		{"rpm", "rad/s"}: {2 * math.Pi / 60, 0},
		{"mm", "m"}:      {1e-3, 0},
	}
	if c, ok := table[pair{from, to}]; ok {
		return c[0], c[1], nil
	}
	return 0, 0, fmt.Errorf("the simulator gives %s in %s and cannot convert it to %q", kind, from, to)
}

// seFactor is the efficiency factor SE in percent: the power the pump
// delivers to its loads over the driver's input power. The loads' power
// counts only up to the pump's own hydraulic output: at a load step-down
// the loads are briefly fed from the accumulator and the compressed line
// volume as well (the load power then exceeds the pump's, and the ratio
// reached 188 %), and that stored energy is no part of the pump's
// efficiency. The hydraulic output is below the shaft power (volumetric
// and hydro-mechanical losses), so the result lies in [0, 100]; the final
// clamp only guards against a negative or motoring pump.
func seFactor(useful, hyd, in float64) float64 {
	if !(in > 0) {
		return 0
	}
	p := math.Min(math.Max(useful, 0), math.Max(hyd, 0))
	return math.Max(0, math.Min(100, 100*p/in))
}
