package sim

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// plant is the physical model of one rig, built from its firmware config.
type plant struct {
	cfg      *rig.Config
	fl       fluid
	nodes    []node
	p        []float64 // node pressures, gauge Pa
	elems    []element
	pumps    []*pump
	drivers  []*driver
	valves   []*valve
	accs     []*accumulator
	cyls     []*cylinder
	mots     []*hmotor
	passives []*passive
	rets     []*retLine
	reliefs  []*relief // all relief characteristics (valves and implicit)
	byID     map[string]any
	keyNode  map[string]int // port key ("id/port") to node index
	comps    map[string]*rig.Component
	muRef    float64 // viscosity at 40 C
	qRef     float64 // largest nominal pump flow, m³/s
	relief   float64 // system relief setting, Pa
	// thermal
	ambient float64 // C
	tankT   float64 // C
	tankC   float64 // heat capacity, J/K
	tankUA  float64 // W/K to ambient
	tankVol float64 // m³ of fluid
	freeze  bool    // hold the tank temperature (warm-up)
	netHeat float64 // heat into the tank, J, accumulated
}

// port keys
func key(id, port string) string { return id + "/" + port }

type unionFind map[string]string

func (u unionFind) find(k string) string {
	for {
		p, ok := u[k]
		if !ok || p == k {
			u[k] = k
			return k
		}
		gp := u[p]
		u[k] = gp
		k = p
	}
}

func (u unionFind) union(a, b string) {
	ra, rb := u.find(a), u.find(b)
	if ra == rb {
		return
	}
	// The tank root always wins, then the lexically smaller one, so that
	// node order does not depend on map iteration.
	switch {
	case ra == tankKey:
		u[rb] = ra
	case rb == tankKey:
		u[ra] = rb
	case ra < rb:
		u[rb] = ra
	default:
		u[ra] = rb
	}
}

const tankKey = "#tank"

func isActuator(t rig.ComponentType) bool {
	return t == rig.Cylinder || t == rig.Motor || t == rig.Actuator
}

func lineVolume(c rig.Connection) float64 {
	d, l := c.DiameterMM/1000, c.LengthM
	if d <= 0 {
		d = 0.010
	}
	if l <= 0 {
		l = 0.5
	}
	return math.Pi / 4 * d * d * l
}

// build assembles the plant. It returns an error naming the component or
// connection the simulator cannot model.
func build(cfg *rig.Config, cal *Calibration) (*plant, error) {
	pl := &plant{
		cfg:     cfg,
		fl:      newFluid(cfg.Equipment.Fluid),
		byID:    map[string]any{},
		keyNode: map[string]int{},
		comps:   map[string]*rig.Component{},
		ambient: cfg.Operation.AmbientC,
	}
	if pl.ambient == 0 {
		pl.ambient = 20
	}
	if b := cal.Plant.BulkModulusBar; b != nil {
		pl.fl.beta = *b * barPa
	}
	pl.muRef = pl.fl.mu(40)
	nominal := map[string]rig.Nominal{}
	for i := range cfg.Components {
		c := &cfg.Components[i]
		pl.comps[c.ID] = c
		nominal[c.ID] = cal.params(c.ID).nominal(c.Nominal)
	}
	var hyd []rig.Connection
	driverOf := map[string]string{}
	for _, c := range cfg.Connections {
		if c.Line == rig.LineMechanical {
			from, to := pl.comps[c.From], pl.comps[c.To]
			if from == nil || to == nil {
				continue
			}
			drv, pm := from, to
			if to.Type == rig.ElectricMotor || to.Type == rig.Engine {
				drv, pm = to, from
			}
			if (drv.Type == rig.ElectricMotor || drv.Type == rig.Engine) && pm.Type == rig.Pump {
				driverOf[pm.ID] = drv.ID
			}
			continue
		}
		if pl.comps[c.From] == nil || pl.comps[c.To] == nil {
			return nil, fmt.Errorf("connection %s -> %s: unknown component", c.From, c.To)
		}
		hyd = append(hyd, c)
	}
	typ := func(id string) rig.ComponentType { return pl.comps[id].Type }

	// Suction side: components fed from the tank up to (not past) a pump.
	suction := map[string]bool{}
	for changed := true; changed; {
		changed = false
		for _, c := range hyd {
			if typ(c.From) == rig.Reservoir || suction[c.From] && typ(c.From) != rig.Pump {
				if typ(c.To) != rig.Reservoir && typ(c.To) != rig.Pump && !suction[c.To] {
					suction[c.To] = true
					changed = true
				}
			}
		}
	}
	isSuctionConn := func(c rig.Connection) bool {
		return typ(c.To) != rig.Reservoir && (typ(c.From) == rig.Reservoir || suction[c.From])
	}

	// Valve roles.
	down := map[string][]rig.Connection{}
	for _, c := range hyd {
		down[c.From] = append(down[c.From], c)
	}
	roles := map[string]valveRole{}
	for _, c := range cfg.Components {
		if c.Type != rig.Valve {
			continue
		}
		if suction[c.ID] {
			roles[c.ID] = roleSuction
			continue
		}
		onlyTank := true
		for _, d := range down[c.ID] {
			if typ(d.To) != rig.Reservoir {
				onlyTank = false
			}
		}
		roles[c.ID] = roleWorking
		if onlyTank && len(down[c.ID]) > 0 {
			// A relief when its supply has another consumer.
			for _, u := range hyd {
				if u.To != c.ID {
					continue
				}
				for _, o := range down[u.From] {
					if o.To != c.ID && typ(o.To) != rig.Reservoir && typ(o.To) != rig.Accumulator {
						roles[c.ID] = roleRelief
					}
				}
			}
		}
	}

	// Join ports into nodes.
	uf := unionFind{tankKey: tankKey}
	vol := map[string]float64{}
	type ret struct {
		key  string
		conn rig.Connection
	}
	var rets []ret
	suctionIn := map[string][]rig.Connection{} // connections on the suction side, by downstream component
	for _, c := range cfg.Components {
		switch c.Type {
		case rig.Reservoir:
			for _, p := range []string{"in", "out", "ret"} {
				uf.union(key(c.ID, p), tankKey)
			}
		case rig.Accumulator, rig.Manifold:
			uf.union(key(c.ID, "in"), key(c.ID, "out"))
		case rig.Valve:
			if roles[c.ID] == roleRelief {
				uf.union(key(c.ID, "out"), key(c.ID, "ret"))
			}
		}
	}
	for _, c := range hyd {
		from, to := pl.comps[c.From], pl.comps[c.To]
		switch {
		case isSuctionConn(c):
			suctionIn[c.To] = append(suctionIn[c.To], c)
		case to.Type == rig.Reservoir:
			port := "out"
			switch {
			case from.Type == rig.Valve:
				port = "ret"
			case from.Type == rig.Motor && (c.Line == rig.LineDrain):
				port = "drain"
			}
			k := key(c.From, port)
			uf.find(k)
			rets = append(rets, ret{k, c})
			vol[k] += lineVolume(c)
		case from.Type == rig.Accumulator:
			k := key(c.To, "in")
			if to.Type == rig.Valve && c.Line == rig.LinePilot {
				k = key(c.To, "pilot")
			}
			uf.union(key(c.From, "in"), k)
			vol[k] += lineVolume(c)
		case from.Type == rig.Valve && isActuator(to.Type):
			uf.union(key(c.From, "A:"+c.To), key(c.To, "in"))
			uf.union(key(c.From, "B:"+c.To), key(c.To, "out"))
			vol[key(c.To, "in")] += lineVolume(c)
			vol[key(c.To, "out")] += lineVolume(c)
		case isActuator(from.Type) || isActuator(to.Type):
			return nil, fmt.Errorf("connection %s -> %s: the simulator drives cylinders and motors through a valve section; connect a valve to %s",
				c.From, c.To, map[bool]string{true: c.From, false: c.To}[isActuator(from.Type)])
		case from.Type == rig.Valve && (c.Line == rig.LineReturn || c.Line == rig.LineDrain):
			uf.union(key(c.From, "ret"), key(c.To, "in"))
			vol[key(c.To, "in")] += lineVolume(c)
		default:
			uf.union(key(c.From, "out"), key(c.To, "in"))
			vol[key(c.To, "in")] += lineVolume(c)
		}
	}

	// Models. Pumps first: their flows size everything else.
	for _, c := range cfg.Components {
		if c.Type != rig.Pump {
			continue
		}
		pm, err := pl.newPump(c, nominal, driverOf, cal)
		if err != nil {
			return nil, err
		}
		uf.find(key(c.ID, "out"))
		pl.pumps = append(pl.pumps, pm)
		pl.byID[c.ID] = pm
		pl.qRef = math.Max(pl.qRef, pm.qNom)
	}
	if len(pl.pumps) == 0 {
		return nil, fmt.Errorf("rig %s has no pump: there is nothing to drive the simulation", cfg.RigType)
	}
	pl.relief = cfg.Operation.ReliefBar * barPa
	if pl.relief == 0 {
		for _, p := range pl.pumps {
			pl.relief = math.Max(pl.relief, p.pNom)
		}
	}

	// Implicit loads get a node of their own when nothing joins their
	// load side (a valve that passes straight to the tank).
	for _, c := range cfg.Components {
		if c.Type == rig.Valve && roles[c.ID] == roleWorking && pl.implicitLoad(down[c.ID]) {
			uf.find(key(c.ID, "out"))
		}
	}

	// Number the nodes in a stable order.
	keys := make([]string, 0, len(uf))
	for k := range uf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rootNode := map[string]int{tankKey: tankNode}
	for _, k := range keys {
		r := uf.find(k)
		if _, ok := rootNode[r]; !ok {
			rootNode[r] = len(pl.nodes)
			pl.nodes = append(pl.nodes, node{name: r})
		}
		pl.keyNode[k] = rootNode[r]
	}
	for k, v := range vol {
		if n := pl.keyNode[k]; n >= 0 {
			pl.nodes[n].vol += v
		}
	}
	nodeOf := func(id, port string) int {
		if n, ok := pl.keyNode[key(id, port)]; ok {
			return n
		}
		return noNode
	}

	for _, pm := range pl.pumps {
		pm.out = nodeOf(pm.id, "out")
		pm.elem = &pumpElem{out: pm.out, ls: pm.ls, gain: pm.qNom / (2 * barPa)}
		pl.elems = append(pl.elems, pm.elem)
		if err := pl.suctionPath(pm, suctionIn, nominal); err != nil {
			return nil, err
		}
	}

	// Drivers.
	for _, c := range cfg.Components {
		if c.Type != rig.ElectricMotor && c.Type != rig.Engine {
			continue
		}
		d := pl.newDriver(c, nominal[c.ID], cal.params(c.ID))
		for _, pm := range pl.pumps {
			if driverOf[pm.id] == c.ID {
				pm.drv = d
				d.pumps = append(d.pumps, pm)
			}
		}
		if d.pRated == 0 {
			for _, pm := range d.pumps {
				d.pRated += 1.2 * pm.qNom * pm.pNom
			}
			if d.pRated == 0 {
				d.pRated = 1000
			}
		}
		pl.drivers = append(pl.drivers, d)
		pl.byID[c.ID] = d
	}
	for _, pm := range pl.pumps {
		pm.ls = pm.ls || pm.drv != nil && pm.drv.engine && cal.params(pm.id).Control == ""
		pm.elem.ls = pm.ls
	}

	// Accumulators, actuators, passives.
	for _, c := range cfg.Components {
		n := nominal[c.ID]
		switch c.Type {
		case rig.Accumulator:
			a := &accumulator{id: c.ID, node: nodeOf(c.ID, "in"), n: 1.3}
			a.v0 = n.VolumeL / 1000
			if a.v0 <= 0 {
				a.v0 = 0.001
			}
			a.p0Nom = n.PrechargeBar * barPa
			if a.p0Nom <= 0 {
				base := n.PressureBar * barPa
				if base <= 0 {
					base = pl.relief
				}
				a.p0Nom = 0.6 * base
			}
			a.p0 = a.p0Nom
			if a.node < 0 {
				return nil, fmt.Errorf("accumulator %s: not connected to a line of the circuit", c.ID)
			}
			pl.nodes[a.node].accs = append(pl.nodes[a.node].accs, a)
			pl.accs = append(pl.accs, a)
			pl.byID[c.ID] = a
		case rig.Cylinder, rig.Actuator:
			cy, err := pl.newCylinder(c, n, nodeOf(c.ID, "in"), nodeOf(c.ID, "out"), cal.params(c.ID))
			if err != nil {
				return nil, err
			}
			pl.cyls = append(pl.cyls, cy)
			pl.byID[c.ID] = cy
		case rig.Motor:
			m, err := pl.newMotor(c, n, nodeOf(c.ID, "in"), nodeOf(c.ID, "out"), nodeOf(c.ID, "drain"), cal.params(c.ID))
			if err != nil {
				return nil, err
			}
			pl.mots = append(pl.mots, m)
			pl.byID[c.ID] = m
		case rig.Filter, rig.HeatExchanger, rig.Heater:
			ps := pl.newPassive(c, n, nodeOf(c.ID, "in"), nodeOf(c.ID, "out"), cal.params(c.ID))
			if ps.in == noNode || ps.out == noNode {
				if suction[c.ID] {
					continue // a suction strainer: in the pump's suction losses
				}
				return nil, fmt.Errorf("%s %s: needs a line in and a line out", c.Type, c.ID)
			}
			pl.passives = append(pl.passives, ps)
			pl.byID[c.ID] = ps
		}
	}

	// Valves.
	for _, c := range cfg.Components {
		if c.Type != rig.Valve {
			continue
		}
		v, err := pl.newValve(c, roles[c.ID], nominal, nodeOf, down[c.ID], cal)
		if err != nil {
			return nil, err
		}
		if v != nil {
			pl.valves = append(pl.valves, v)
			pl.byID[c.ID] = v
		}
	}

	// An implicit relief on every pump line without a relief valve.
	for _, pm := range pl.pumps {
		has := false
		for _, v := range pl.valves {
			if v.role == roleRelief && v.in == pm.out {
				has = true
			}
		}
		if has {
			continue
		}
		set := pm.pNom * 1.1
		if pl.feedsWorkingValve(pm) {
			set = pl.relief
		}
		r := pl.newRelief(pm.out, tankNode, set, pl.flowInto(pm.out))
		pl.elems = append(pl.elems, r)
	}
	for _, pm := range pl.pumps {
		if pm.ls {
			pm.cutoff = 0.95 * pl.relief
			pm.margin = 20 * barPa
			pm.standby = 25 * barPa
			for _, v := range pl.valves {
				if v.in == pm.out && v.pilot != noNode {
					pm.standby = math.Max(pm.standby, v.pilotSet+5*barPa)
				}
			}
		}
		for _, v := range pl.valves {
			if v.role == roleWorking && v.in == pm.out {
				for _, s := range v.sections {
					pm.loads = append(pm.loads, loadRef{s})
				}
			}
		}
	}

	// Lines into the tank.
	for _, r := range rets {
		n := pl.keyNode[r.key]
		if n < 0 {
			continue
		}
		id := strings.SplitN(r.key, "/", 2)[0]
		rl := &retLine{node: n, geom: lineGeom{r.conn.DiameterMM / 1000, r.conn.LengthM}, qRef: pl.flowInto(n)}
		if rl.geom.d <= 0 {
			rl.geom.d = 0.016
		}
		if rl.geom.l <= 0 {
			rl.geom.l = 1
		}
		rl.bar = or(cal.params(id).ReturnBar, 0) * barPa
		rl.res = &resistance{a: n, b: tankNode}
		pl.rets = append(pl.rets, rl)
		pl.elems = append(pl.elems, rl.res)
	}

	for i := range pl.nodes {
		pl.nodes[i].vol = math.Max(pl.nodes[i].vol, 0.05e-3)
	}
	pl.p = make([]float64, len(pl.nodes))

	// Tank and heat.
	pl.tankVol = cfg.Equipment.TankVolumeL / 1000
	for _, c := range cfg.Components {
		if c.Type == rig.Reservoir && pl.tankVol == 0 {
			pl.tankVol = nominal[c.ID].VolumeL / 1000
		}
	}
	if pl.tankVol <= 0 {
		pl.tankVol = 0.1
	}
	pl.tankC = 1.5 * pl.fl.rho * pl.tankVol * pl.fl.cp
	if m := cal.Plant.ThermalMassKJK; m != nil {
		pl.tankC = *m * 1000
	}
	pl.tankUA = 15 * 6 * math.Pow(pl.tankVol, 2.0/3) * 1.3
	if ua := cal.Plant.AmbientUAWK; ua != nil {
		pl.tankUA = *ua
	}
	pl.tankT = pl.ambient
	for i := range pl.nodes {
		pl.nodes[i].temp = pl.ambient
	}
	for _, d := range pl.drivers {
		d.body = pl.ambient
	}
	pl.updateViscous()
	return pl, nil
}

// feedsWorkingValve reports whether a pump's line feeds a working valve.
func (pl *plant) feedsWorkingValve(pm *pump) bool {
	for _, v := range pl.valves {
		if v.role == roleWorking && v.in == pm.out {
			return true
		}
	}
	return false
}

// flowInto returns a reference flow for a node: the nominal flow of the
// pumps delivering into it, else the largest pump's.
func (pl *plant) flowInto(n int) float64 {
	q := 0.0
	for _, pm := range pl.pumps {
		if pm.out == n {
			q += pm.qNom
		}
	}
	if q == 0 {
		q = pl.qRef
	}
	return q
}

func (pl *plant) newPump(c rig.Component, nominal map[string]rig.Nominal, driverOf map[string]string, cal *Calibration) (*pump, error) {
	n := nominal[c.ID]
	par := cal.params(c.ID)
	pm := &pump{id: c.ID, nNom: n.SpeedRPM, muRef: pl.fl.mu(40), fill: 1, eps: 1}
	if pm.nNom == 0 {
		if d, ok := driverOf[c.ID]; ok {
			pm.nNom = nominal[d].SpeedRPM
		}
	}
	if pm.nNom <= 0 {
		return nil, fmt.Errorf("pump %s: needs speed_rpm (on the pump or its driver)", c.ID)
	}
	switch {
	case n.DisplacementCC > 0:
		pm.disp = n.DisplacementCC * 1e-6
	case n.FlowLPM > 0:
		pm.disp = n.FlowLPM * lpmM3s * 60 / pm.nNom
	default:
		return nil, fmt.Errorf("pump %s: needs displacement_cc or flow_lpm", c.ID)
	}
	pm.qNom = pm.disp * pm.nNom / 60
	pm.pNom = n.PressureBar * barPa
	if pm.pNom <= 0 {
		pm.pNom = pl.cfg.Operation.ReliefBar * barPa
	}
	if pm.pNom <= 0 {
		pm.pNom = 200 * barPa
	}
	etaV := n.Efficiency
	if etaV <= 0 {
		etaV = 0.95
	}
	pm.etaHM = or(par.MechEfficiency, 0.92)
	pm.gl0 = (1 - etaV) * pm.qNom / pm.pNom
	pm.glGrade = 0.03 * pm.qNom / pm.pNom
	pm.drag = 0.01 * pm.qNom * pm.pNom
	pm.vib0 = or(par.VibrationMMS, 1)
	pm.ls = par.Control == controlLS
	pm.speed = pm.nNom
	return pm, nil
}

func (pl *plant) suctionPath(pm *pump, in map[string][]rig.Connection, nominal map[string]rig.Nominal) error {
	seen := map[string]bool{}
	var walk func(id string) error
	walk = func(id string) error {
		if seen[id] {
			return fmt.Errorf("pump %s: its suction line loops through %s", pm.id, id)
		}
		seen[id] = true
		for _, c := range in[id] {
			pm.suction.lines = append(pm.suction.lines, lineGeom{c.DiameterMM / 1000, c.LengthM})
			if from := pl.comps[c.From]; from.Type == rig.Valve {
				area := nominal[c.From].OrificeMM2
				if area > 0 {
					pm.suction.valveK = append(pm.suction.valveK, pl.orificeK(area))
				}
			}
			if pl.comps[c.From].Type != rig.Reservoir {
				if err := walk(c.From); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(pm.id)
}

func (pl *plant) newDriver(c rig.Component, n rig.Nominal, par ComponentParams) *driver {
	d := &driver{id: c.ID, engine: c.Type == rig.Engine, pRated: n.PowerKW * 1000, nNom: n.SpeedRPM,
		eta: n.Efficiency, tRise: or(par.TempRiseC, 60), tau: 1200}
	if d.eta <= 0 {
		d.eta = 0.85
	}
	if d.nNom <= 0 {
		d.nNom = 1450
	}
	if d.engine {
		d.slip = 0.06 // governor droop
		d.nSync = d.nNom
		d.eta = 1
	} else {
		d.slip = 0.035
		d.nSync = d.nNom * (1 + d.slip)
		d.volt, d.phases = 230, 1
		if n.PowerKW >= 1.5 {
			d.volt, d.phases = 400, 3
		}
		d.volt = or(par.VoltageV, d.volt)
		d.phases = or(par.Phases, d.phases)
		d.pf = or(par.PowerFactor, 0.8)
	}
	d.speed = d.nNom
	return d
}

func (pl *plant) newCylinder(c rig.Component, n rig.Nominal, capN, rodN int, par ComponentParams) (*cylinder, error) {
	if n.BoreMM <= 0 || n.StrokeMM <= 0 {
		return nil, fmt.Errorf("%s %s: needs bore_mm and stroke_mm", c.Type, c.ID)
	}
	if capN == noNode || rodN == noNode {
		return nil, fmt.Errorf("%s %s: not connected to a valve section", c.Type, c.ID)
	}
	rod := n.RodMM
	if rod <= 0 || rod >= n.BoreMM {
		rod = 0.7 * n.BoreMM
	}
	cy := &cylinder{id: c.ID, cap: capN, rod: rodN, stroke: n.StrokeMM / 1000}
	cy.acap = math.Pi / 4 * math.Pow(n.BoreMM/1000, 2)
	cy.arod = cy.acap - math.Pi/4*math.Pow(rod/1000, 2)
	cy.dead = 0.1e-3
	cy.damp = cy.acap * cy.acap * 10 * barPa / pl.qRef
	cy.fw = cy.acap * 1 * barPa
	cy.x = 0.1 * cy.stroke
	pNom := n.PressureBar * barPa
	if pNom <= 0 {
		pNom = pl.relief
	}
	if pNom <= 0 {
		pNom = 200 * barPa
	}
	cy.glGrade = 0.01 * pl.qRef / pNom
	cy.leakElem = &resistance{a: capN, b: rodN, ca: 1 / 1e-15}
	cy.elem = &cylElem{c: cy}
	pl.elems = append(pl.elems, cy.elem, cy.leakElem)
	pl.nodes[capN].caps = append(pl.nodes[capN].caps, cy)
	pl.nodes[rodN].rods = append(pl.nodes[rodN].rods, cy)
	_ = par
	return cy, nil
}

func (pl *plant) newMotor(c rig.Component, n rig.Nominal, in, out, drain int, par ComponentParams) (*hmotor, error) {
	if n.DisplacementCC <= 0 {
		return nil, fmt.Errorf("motor %s: needs displacement_cc", c.ID)
	}
	if in == noNode || out == noNode {
		return nil, fmt.Errorf("motor %s: not connected to a valve section", c.ID)
	}
	if drain == noNode {
		drain = tankNode
	}
	m := &hmotor{id: c.ID, in: in, out: out, drain: drain, dispRad: n.DisplacementCC * 1e-6 / (2 * math.Pi),
		etaHM: or(par.MechEfficiency, 0.92), nominalN: n.SpeedRPM}
	if m.nominalN <= 0 {
		m.nominalN = 1000
	}
	m.damp = m.dispRad * m.dispRad * 10 * barPa / pl.qRef
	m.tw = m.dispRad * barPa
	pNom := n.PressureBar * barPa
	if pNom <= 0 {
		pNom = pl.relief
	}
	etaV := n.Efficiency
	if etaV <= 0 {
		etaV = 0.95
	}
	qn := m.dispRad * m.nominalN * 2 * math.Pi / 60
	m.gl0 = (1 - etaV) * qn / pNom
	m.glGrade = 0.03 * qn / pNom
	m.elem = &motorElem{m: m}
	m.leakIn = &resistance{a: in, b: drain, ca: 1 / (m.gl0 / 2)}
	m.leakOut = &resistance{a: out, b: drain, ca: 1 / (m.gl0 / 2)}
	pl.elems = append(pl.elems, m.elem, m.leakIn, m.leakOut)
	return m, nil
}

func (pl *plant) newPassive(c rig.Component, n rig.Nominal, in, out int, par ComponentParams) *passive {
	ps := &passive{id: c.ID, typ: c.Type, in: in, out: out, eff: 1}
	ps.qNom = n.FlowLPM * lpmM3s
	if ps.qNom <= 0 {
		ps.qNom = pl.qRef
	}
	ps.dpNom = n.PressureDropBar * barPa
	switch c.Type {
	case rig.Filter:
		if ps.dpNom <= 0 {
			ps.dpNom = 0.2 * barPa
		}
		ps.lam = or(par.LaminarFraction, 0.7)
	case rig.HeatExchanger:
		if ps.dpNom <= 0 {
			ps.dpNom = 0.5 * barPa
		}
		ps.lam = or(par.LaminarFraction, 0.5)
		heat := n.HeatKW * 1000
		if heat <= 0 {
			for _, pm := range pl.pumps {
				heat += 0.3 * pm.qNom * pm.pNom
			}
		}
		ps.uaFull = heat / or(par.RatedDeltaC, 40)
		ps.passive = or(par.PassiveFraction, 0.25)
	case rig.Heater:
		if ps.dpNom <= 0 {
			ps.dpNom = 0.1 * barPa
		}
		ps.lam = 0.5
		ps.heat = n.HeatKW * 1000
	}
	ps.res = &resistance{a: in, b: out, hx: ps}
	pl.elems = append(pl.elems, ps.res)
	return ps
}

// newRelief returns a relief characteristic from a to b: cracking at 97 %
// of set, reaching set at flow qRef.
func (pl *plant) newRelief(a, b int, set, qRef float64) *relief {
	ovr := math.Max(0.03*set, 0.2*barPa)
	r := &relief{a: a, b: b, crack: set - ovr, g: qRef / ovr, w: math.Max(0.005*set, 0.05*barPa), on: true}
	r.leak = 1e-6 * r.g
	pl.reliefs = append(pl.reliefs, r)
	return r
}

func (pl *plant) orificeK(mm2 float64) float64 {
	return 0.7 * mm2 * 1e-6 * math.Sqrt(2/pl.fl.rho)
}

func (pl *plant) newValve(c rig.Component, role valveRole, nominal map[string]rig.Nominal,
	nodeOf func(id, port string) int, down []rig.Connection, cal *Calibration) (*valve, error) {
	n := nominal[c.ID]
	v := &valve{id: c.ID, role: role, in: nodeOf(c.ID, "in"), ret: nodeOf(c.ID, "ret"), pilot: nodeOf(c.ID, "pilot"), cond: 1}
	area := n.OrificeMM2
	if area <= 0 {
		// 5 bar at the reference flow.
		area = pl.qRef / (0.7 * math.Sqrt(2*5*barPa/pl.fl.rho)) * 1e6
	}
	v.kMax = pl.orificeK(area)
	v.tSwitch = n.SwitchTimeMS / 1000
	if v.tSwitch <= 0 {
		v.tSwitch = 0.05
	}
	switch role {
	case roleSuction:
		return v, nil
	case roleRelief:
		if v.in == noNode || v.in == tankNode {
			return nil, fmt.Errorf("valve %s: relief valve without a supply line", c.ID)
		}
		set := pl.relief
		if set == 0 {
			set = n.PressureBar * barPa
		}
		to := v.ret
		if to == noNode {
			to = tankNode
		}
		v.relief = pl.newRelief(v.in, to, set, pl.flowInto(v.in))
		pl.elems = append(pl.elems, v.relief)
		return v, nil
	}
	if v.in == noNode || v.in == tankNode {
		return nil, fmt.Errorf("valve %s: has no supply line (connect a pump or manifold to it)", c.ID)
	}
	ret := v.ret
	if ret == noNode {
		ret = tankNode
	}
	qRef := pl.flowInto(v.in)
	if pl.implicitLoad(down) {
		s := &section{v: v, a: nodeOf(c.ID, "out"), b: noNode, dir: 1, loadRef: qRef}
		if s.a == noNode || s.a == tankNode {
			return nil, fmt.Errorf("valve %s: no load side", c.ID)
		}
		s.pa = &orifice{a: v.in, b: s.a}
		s.vent = &orifice{a: s.a, b: ret}
		s.load = pl.newRelief(s.a, ret, 0, qRef)
		s.load.on = false
		pl.elems = append(pl.elems, s.pa, s.vent, s.load)
		v.sections = append(v.sections, s)
	}
	for _, d := range down {
		act := pl.byID[d.To]
		if act == nil || !isActuator(pl.comps[d.To].Type) {
			continue
		}
		s := &section{v: v, dir: 1}
		switch a := act.(type) {
		case *cylinder:
			s.cyl, s.a, s.b = a, a.cap, a.rod
		case *hmotor:
			s.mot, s.a, s.b = a, a.in, a.out
		}
		s.pa = &orifice{a: v.in, b: s.a}
		s.bt = &orifice{a: s.b, b: ret}
		s.pb = &orifice{a: v.in, b: s.b}
		s.at = &orifice{a: s.a, b: ret}
		pl.elems = append(pl.elems, s.pa, s.bt, s.pb, s.at)
		v.sections = append(v.sections, s)
	}
	if len(v.sections) == 0 {
		return nil, fmt.Errorf("valve %s: nothing downstream to switch", c.ID)
	}
	if v.pilot != noNode {
		v.pilotSet = 35 * barPa
		for _, a := range pl.accs {
			if a.node == v.pilot && nominal[a.id].PressureBar > 0 {
				v.pilotSet = nominal[a.id].PressureBar * barPa
			}
		}
		// A reducing valve passing 5 l/min at 10 bar, 15 cm³ of pilot oil
		// per spool stroke and a pilot leak of 0.2 l/min at the setting:
		// the accumulator covers the pilot flow of each switching.
		q := 5 * lpmM3s
		v.reducer = &reducer{a: v.in, b: v.pilot, set: v.pilotSet, w: 0.5 * barPa,
			k: q / math.Sqrt(10*barPa)}
		v.pilotUse = &sink{a: v.pilot}
		v.spoolVol = 15e-6
		leak := &resistance{a: v.pilot, b: tankNode, ca: v.pilotSet / (0.2 * lpmM3s)}
		pl.elems = append(pl.elems, v.reducer, v.pilotUse, leak)
	}
	return v, nil
}

// implicitLoad reports whether a working valve with these downstream
// connections feeds an implicit load: it drives no actuator, or something
// other than actuators and return lines hangs on its load side.
func (pl *plant) implicitLoad(down []rig.Connection) bool {
	implicit := true
	for _, d := range down {
		if isActuator(pl.comps[d.To].Type) {
			implicit = false
		}
	}
	for _, d := range down {
		t := pl.comps[d.To].Type
		if !isActuator(t) && t != rig.Reservoir && d.Line != rig.LineReturn && d.Line != rig.LineDrain {
			implicit = true
		}
	}
	return implicit
}

// checkProgram verifies that the operation's load program can be applied.
func (pl *plant) checkProgram() error {
	var errs []error
	for i, st := range pl.cfg.Operation.LoadSteps {
		if st.Actuator == "" {
			continue
		}
		found := false
		for _, v := range pl.valves {
			for _, s := range v.sections {
				if s.actuator() == st.Actuator {
					found = true
				}
			}
		}
		if !found {
			errs = append(errs, fmt.Errorf("operation.load_steps[%d]: actuator %q is not driven by a valve section", i, st.Actuator))
		}
	}
	working := slices.ContainsFunc(pl.valves, func(v *valve) bool { return v.role == roleWorking })
	if !working && len(pl.cfg.Operation.LoadSteps) > 0 {
		errs = append(errs, errors.New("operation.load_steps: the rig has no working valve for the load program to switch"))
	}
	return errors.Join(errs...)
}

// updateViscous refreshes the coefficients that depend on viscosity and on
// the components' conditions.
func (pl *plant) updateViscous() {
	rho := pl.fl.rho
	for _, ps := range pl.passives {
		mu := pl.fl.mu(ps.tIn0(pl))
		k := 1.0
		if ps.typ == rig.Filter {
			k = 1 / math.Pow(1-ps.clog, 2)
		}
		ps.res.ca = k * ps.lam * ps.dpNom / ps.qNom * mu / pl.muRef
		ps.res.cb = k * (1 - ps.lam) * ps.dpNom / (ps.qNom * ps.qNom)
		if ps.res.ca <= 0 {
			ps.res.ca = 1e3
		}
	}
	for _, r := range pl.rets {
		mu := pl.fl.mu(pl.tempAt(r.node))
		ca, cb := lineCoeffs(r.geom, mu, rho)
		r.res.ca = math.Max(ca, 1e3) + r.bar/r.qRef
		r.res.cb = cb
	}
	for _, cy := range pl.cyls {
		g := cy.glGrade * cy.leak * pl.muRef / pl.fl.mu(pl.tempAt(cy.cap))
		cy.leakElem.ca = 1 / math.Max(g, 1e-15)
	}
	for _, m := range pl.mots {
		g := (m.gl0 + m.glGrade*m.leak) * pl.muRef / pl.fl.mu(pl.tempAt(m.in))
		m.leakIn.ca, m.leakOut.ca = 2/g, 2/g
	}
}

func (ps *passive) tIn0(pl *plant) float64 { return pl.tempAt(ps.in) }

// tempAt returns the fluid temperature at a node (the tank's for the tank).
func (pl *plant) tempAt(n int) float64 {
	if n < 0 {
		return pl.tankT
	}
	return pl.nodes[n].temp
}
