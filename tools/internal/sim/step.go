package sim

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// program is the rig's load program (Operation.LoadSteps).
type program struct {
	steps  []rig.LoadStep
	cycleS float64
	delayS float64   // the program runs this much after the cycle starts
	ends   []float64 // end of each step within the cycle, s
}

func newProgram(op rig.Operation, delayS float64) *program {
	pr := &program{cycleS: op.CycleS, delayS: delayS, steps: slices.Clone(op.LoadSteps)}
	slices.SortStableFunc(pr.steps, func(a, b rig.LoadStep) int {
		switch {
		case a.AtS < b.AtS:
			return -1
		case a.AtS > b.AtS:
			return 1
		}
		return 0
	})
	for i := range pr.steps {
		end := math.Inf(1)
		if i+1 < len(pr.steps) {
			end = pr.steps[i+1].AtS
		} else if pr.cycleS > 0 {
			end = pr.cycleS
		}
		pr.ends = append(pr.ends, end)
	}
	return pr
}

// at returns the index of the step active at time t since the start (-1
// when there is no program).
func (pr *program) at(t float64) int {
	if len(pr.steps) == 0 {
		return -1
	}
	if pr.cycleS > 0 {
		t = math.Mod(t, pr.cycleS)
		if pr.delayS > 0 {
			// Before the delay the previous cycle's last step runs on.
			t = math.Mod(t-pr.delayS+pr.cycleS, pr.cycleS)
		}
	}
	i := 0
	for i+1 < len(pr.steps) && pr.steps[i+1].AtS <= t+1e-9 {
		i++
	}
	return i
}

// duration returns the length of step i.
func (pr *program) duration(i int) float64 {
	return pr.ends[i] - pr.steps[i].AtS
}

// Valve degradation: at condition 73 % (the UCI's worst grade, d = 1) the
// spool needs 0.6 s more to open, stops first at 75 % of its travel and
// creeps the rest with a time constant of 0.8 s; closing is twice as slow.
const (
	valveDegradedOpenS  = 0.6
	valveStageLoss      = 0.25
	valveCreepS         = 0.3
	valveDegradedCreepS = 0.5
)

// degradation maps a valve condition (fraction) to d in [0, 1.5]: 0 healthy,
// 1 at 73 %.
func degradation(cond float64) float64 {
	return math.Max(0, math.Min(1.5, (1-cond)/0.27))
}

// applyStep switches the working valves for load step i.
func (pl *plant) applyStep(prog *program, i int) {
	if i < 0 {
		for _, v := range pl.valves {
			for _, s := range v.sections {
				if s.actuator() == "" {
					s.target, s.active = 1, true
				}
			}
		}
		return
	}
	st := prog.steps[i]
	dur := prog.duration(i)
	for _, v := range pl.valves {
		if v.role != roleWorking {
			continue
		}
		for _, s := range v.sections {
			was := s.active
			s.active = false
			s.target = 0
			act := s.actuator()
			switch {
			case st.Idle:
			case st.Actuator != "" && act == st.Actuator:
				if s.cyl != nil || s.mot != nil {
					if !was && s.startedOnce() {
						s.dir = -s.dir
					}
					s.markStarted()
				}
				s.active = true
				s.target = s.dir * pl.command(s, dur)
			case st.Actuator == "" && act == "":
				s.active = true
				s.target = 1
			}
			load := st.LoadBar * barPa
			switch {
			case s.load != nil && !st.Idle:
				ovr := math.Max(0.03*load, 0.3*barPa)
				s.load.crack, s.load.g, s.load.w, s.load.on = load-ovr, s.loadRef/ovr, math.Max(0.005*load, 0.05*barPa), true
				s.load.leak = 1e-6 * s.load.g
			case s.cyl != nil:
				s.cyl.dir = 0
				if s.active {
					s.cyl.dir = s.dir
					area := s.cyl.acap
					if s.dir < 0 {
						area = s.cyl.arod
					}
					s.cyl.fload = load * area
				}
			case s.mot != nil:
				s.mot.dir = 0
				if s.active {
					s.mot.dir = s.dir
					s.mot.tload = load * s.mot.dispRad
				}
			}
		}
	}
}

func (s *section) startedOnce() bool { return s.started }
func (s *section) markStarted()      { s.started = true }

// command returns the spool opening an operator gives a section: fully
// open on a fixed-displacement circuit; on a load-sensing one the opening
// that meters the flow which moves a cylinder to 90 % of its stroke
// (extending) or 10 % (retracting) within the step, or turns a motor at
// half its nominal speed.
func (pl *plant) command(s *section, dur float64) float64 {
	ls := false
	for _, pm := range pl.pumps {
		if pm.out == s.v.in && pm.ls {
			ls = true
		}
	}
	if !ls || math.IsInf(dur, 1) || dur <= 0 {
		return 1
	}
	var q float64
	switch {
	case s.cyl != nil:
		c := s.cyl
		area, goal := c.acap, 0.9*c.stroke
		if s.dir < 0 {
			area, goal = c.arod, 0.1*c.stroke
		}
		q = math.Max(math.Abs(goal-c.x), 0.05*c.stroke) * area / dur
	case s.mot != nil:
		q = math.Min(0.5*s.mot.nominalN/60*2*math.Pi*s.mot.dispRad, 0.6*pl.qRef)
	default:
		return 1
	}
	var margin float64
	for _, pm := range pl.pumps {
		if pm.out == s.v.in {
			margin = pm.margin
		}
	}
	x := q / (s.v.kMax * math.Sqrt(margin))
	return math.Max(0.05, math.Min(1, x))
}

// moveSpools advances every working valve's spools by dt.
func (pl *plant) moveSpools(dt float64) {
	for _, v := range pl.valves {
		if v.role != roleWorking {
			continue
		}
		d := degradation(v.cond)
		tsw := v.tSwitch
		if v.pilot != noNode {
			f := (pl.p[v.pilot] - 5*barPa) / (v.pilotSet - 5*barPa)
			tsw /= math.Max(0.2, math.Min(1, f))
		}
		moved := 0.0
		for _, s := range v.sections {
			x0 := s.x
			opening := math.Abs(s.target) > math.Abs(s.x)+1e-12 && s.target*s.x >= 0
			if opening {
				sign := math.Copysign(1, s.target)
				ax, at := math.Abs(s.x), math.Abs(s.target)
				stage := at * (1 - valveStageLoss*math.Min(d, 1))
				if ax < stage {
					ax = math.Min(stage, ax+dt/(tsw+valveDegradedOpenS*d))
				} else {
					ax += (at - ax) * math.Min(1, dt/(valveCreepS*d+valveDegradedCreepS*d+1e-9))
				}
				s.x = sign * math.Min(ax, at)
			} else if s.x != s.target {
				tau := tsw / 3 * (1 + d)
				s.x += (s.target - s.x) * math.Min(1, dt/tau)
				if math.Abs(s.x-s.target) < 1e-6 {
					s.x = s.target
				}
			}
			moved += math.Abs(s.x - x0)
			k := v.kMax
			if s.load != nil {
				open := math.Max(0, math.Min(1, s.x))
				s.pa.k = k * open
				s.vent.k = k * (1 - open)
				continue
			}
			// Meter-out edges are twice the meter-in area.
			s.pa.k, s.bt.k = k*math.Max(0, s.x), 2*k*math.Max(0, s.x)
			s.pb.k, s.at.k = k*math.Max(0, -s.x), 2*k*math.Max(0, -s.x)
		}
		if v.pilotUse != nil {
			v.pilotUse.q = v.spoolVol * moved / dt
		}
	}
}

// preparePumps sets each pump's delivery for the next step from its speed,
// inlet condition and leakage.
func (pl *plant) preparePumps(dt float64) {
	mu := pl.fl.mu(pl.tankT)
	for _, pm := range pl.pumps {
		pm.speed = pm.nNom
		if pm.drv != nil {
			pm.speed = pm.drv.speed * pm.nNom / pm.drv.nNom
		}
		// Inlet pressure from the suction line's losses at the last flow,
		// and the filling of the chambers it allows.
		q := math.Max(pm.q, 0)
		dp := 0.0
		for _, g := range pm.suction.lines {
			ca, cb := lineCoeffs(g, mu, pl.fl.rho)
			dp += ca*q + cb*q*q
		}
		for _, k := range pm.suction.valveK {
			dp += (q / k) * (q / k)
		}
		pv := pl.fl.vapourPa(pl.tankT)
		dp += pm.cav * (atmPa - pv) * math.Pow(q/pm.qNom, 2)
		pm.pIn = math.Max(-dp, pv-atmPa)
		pmin := pl.fl.minInletPa(pl.tankT)
		fill := 1.0
		if in := atmPa + pm.pIn; in < pmin {
			fill = math.Max(0.05, (in-pv)/(pmin-pv))
		}
		pm.fill += (fill - pm.fill) * math.Min(1, dt/0.05)

		gl := (pm.gl0 + pm.glGrade*pm.leak) * pm.muRef / mu
		qth := pm.disp * pm.speed / 60 * pm.fill
		e := pm.elem
		if !pm.ls {
			e.qth, e.gl = qth, gl
			continue
		}
		target := pm.standby
		for _, l := range pm.loads {
			s := l.sec
			if !s.active || s.x == 0 {
				continue
			}
			n := s.a
			if s.x < 0 {
				n = s.b
			}
			target = math.Max(target, pl.p[n]+pm.margin)
		}
		e.pt = math.Min(target, pm.cutoff)
		pOut := math.Max(pl.p[pm.out], barPa)
		qmax := qth - gl*pOut
		if d := pm.drv; d != nil {
			avail := 0.95 * d.pRated
			for _, o := range d.pumps {
				if o != pm {
					avail -= o.shaft
				}
			}
			qmax = math.Min(qmax, math.Max(0, avail)*pm.etaHM/pOut)
		}
		e.qmax = math.Max(qmax, 0)
		e.gl = gl
	}
}

// afterStep updates everything that follows from the solved pressures.
func (pl *plant) afterStep(dt float64) {
	for _, pm := range pl.pumps {
		e := pm.elem
		pm.q, pm.pOut = e.q, e.p
		dp := pm.pOut - pm.pIn
		swept := e.qth
		if pm.ls {
			swept = e.q + e.gl*math.Max(pm.pOut, 0)
			if full := pm.disp * pm.speed / 60; full > 0 {
				pm.eps = swept / full
			}
		}
		r := pm.speed / pm.nNom
		pm.shaft = math.Max(swept*dp, 0)/pm.etaHM + pm.drag*r*r
		pm.hyd = pm.q * dp
		pm.useful = 0
		for _, l := range pm.loads {
			s := l.sec
			switch {
			case s.load != nil:
				pm.useful += math.Max(0, s.load.q*s.load.dp)
			case s.cyl != nil:
				pm.useful += math.Abs(s.cyl.fload * s.cyl.elem.v)
			case s.mot != nil:
				pm.useful += math.Abs(s.mot.tload * s.mot.elem.omega)
			}
		}
	}
	for _, d := range pl.drivers {
		d.shaft = 0
		for _, pm := range d.pumps {
			d.shaft += pm.shaft
		}
		d.input = d.shaft + d.losses(d.shaft)
		var target float64
		if d.engine {
			x := d.shaft / d.pRated
			target = d.nNom * (1 + d.slip/2 - d.slip*x)
			if x > 1 {
				target -= d.nNom * 0.5 * (x - 1)
			}
		} else {
			w := d.speed * 2 * math.Pi / 60
			tRated := d.pRated / (d.nNom * 2 * math.Pi / 60)
			target = d.nSync - (d.nSync-d.nNom)*(d.shaft/math.Max(w, 1))/tRated
		}
		target = math.Max(target, 0.2*d.nNom)
		d.speed += (target - d.speed) * math.Min(1, dt/0.05)
		d.torque = d.shaft / (d.speed * 2 * math.Pi / 60)
	}
	for _, a := range pl.accs {
		a.p = pl.p[a.node]
		v, _ := a.oilAt(a.p)
		a.q = (v - a.oil) / dt
		a.oil = v
	}
	for _, c := range pl.cyls {
		c.x = math.Max(0, math.Min(c.stroke, c.x+c.elem.v*dt))
	}
}

// Thermal constants.
const (
	stagnantTauS    = 60   // a node without flow relaxes to the tank temperature
	tempSensorTauS  = 5    // thermal lag of a temperature sensor
	driverBodyTauS  = 1200 // electric motor and engine body
	minAdvectionM3s = 1e-7 // 0.006 l/min
)

// thermal advances temperatures by dt: every element's flow carries the
// temperature of its source plus its throttling heat (dp/(rho c)) into its
// destination; pumps add their losses, coolers remove heat; the tank
// integrates what returns to it and loses heat to the ambient.
func (pl *plant) thermal(dt float64) {
	rc := pl.fl.rho * pl.fl.cp
	for i := range pl.nodes {
		pl.nodes[i].inQ, pl.nodes[i].inQT = 0, 0
	}
	tankHeat := 0.0
	into := func(dst int, q, t float64) {
		if q <= 0 {
			return
		}
		if dst < 0 {
			tankHeat += rc * q * (t - pl.tankT)
			return
		}
		pl.nodes[dst].inQ += q
		pl.nodes[dst].inQT += q * t
	}
	throttled := func(a, b int, q, dp float64) {
		if q >= 0 {
			into(b, q, pl.tempAt(a)+math.Abs(dp)/rc)
		} else {
			into(a, -q, pl.tempAt(b)+math.Abs(dp)/rc)
		}
	}
	for _, pm := range pl.pumps {
		if pm.q > minAdvectionM3s {
			into(pm.out, pm.q, pl.tankT+math.Max(0, pm.shaft-pm.hyd)/(rc*pm.q))
		}
	}
	for _, e := range pl.elems {
		switch e := e.(type) {
		case *orifice:
			throttled(e.a, e.b, e.q, e.dp)
		case *relief:
			throttled(e.a, e.b, e.q, e.dp)
		case *reducer:
			throttled(e.a, e.b, e.q, e.dp)
		case *sink:
			into(tankNode, e.q, pl.tempAt(e.a))
		case *resistance:
			if e.hx == nil {
				throttled(e.a, e.b, e.q, e.dp)
			}
		case *cylElem:
			c := e.c
			if e.v > 0 {
				into(c.rod, c.arod*e.v, pl.tempAt(c.rod))
			} else if e.v < 0 {
				into(c.cap, -c.acap*e.v, pl.tempAt(c.cap))
			}
		case *motorElem:
			m := e.m
			q := m.dispRad * e.omega
			if q > 0 {
				into(m.out, q, pl.tempAt(m.in)+(1-m.etaHM)*math.Abs(pr(pl.p, m.in)-pr(pl.p, m.out))/rc)
			} else if q < 0 {
				into(m.in, -q, pl.tempAt(m.out)+(1-m.etaHM)*math.Abs(pr(pl.p, m.in)-pr(pl.p, m.out))/rc)
			}
		}
	}
	for _, ps := range pl.passives {
		q := ps.res.q
		src, dst := ps.in, ps.out
		if q < 0 {
			src, dst, q = dst, src, -q
		}
		ps.tIn = pl.tempAt(src)
		t := ps.tIn + math.Abs(ps.res.dp)/rc
		ps.qc = 0
		if q > minAdvectionM3s {
			switch ps.typ {
			case rig.HeatExchanger:
				c := rc * q
				ua := ps.uaFull * (ps.passive + (1-ps.passive)*ps.eff)
				eps := 1 - math.Exp(-ua/c)
				ps.qc = eps * c * (t - pl.ambient)
			case rig.Heater:
				ps.qc = -ps.heat
			}
			t -= ps.qc / (rc * q)
		}
		ps.tOut = t
		into(dst, q, t)
	}
	for i := range pl.nodes {
		nd := &pl.nodes[i]
		if nd.inQ > minAdvectionM3s {
			v := nd.vol
			for _, a := range nd.accs {
				v += a.oil
			}
			alpha := math.Min(1, dt*nd.inQ/v)
			nd.temp += (nd.inQT/nd.inQ - nd.temp) * alpha
		} else {
			nd.temp += (pl.tankT - nd.temp) * dt / stagnantTauS
		}
	}
	amb := pl.tankUA * (pl.tankT - pl.ambient)
	pl.netHeat += dt * (tankHeat - amb)
	if !pl.freeze {
		pl.tankT += dt * (tankHeat - amb) / pl.tankC
	}
	for _, d := range pl.drivers {
		loss := d.input - d.shaft
		rise := 0.0
		if d.engine {
			rise = d.tRise * d.shaft / d.pRated // engine block follows load
		} else if rated := d.pRated * (1/d.eta - 1); rated > 0 {
			rise = d.tRise * loss / rated
		}
		d.body += (pl.ambient + rise - d.body) * dt / d.tau
	}
}

// vibration updates the pumps' housing vibration: growing with speed,
// pressure and leakage wear, with bursts while cavitating.
func (pl *plant) vibration(dt float64, rngs []*rand.Rand) {
	for i, pm := range pl.pumps {
		rng := rngs[i]
		r := pm.speed / pm.nNom
		load := math.Max(0, pm.pOut-pm.pIn) / pm.pNom
		base := pm.vib0 * math.Pow(r, 1.5) * (0.6 + 0.4*math.Min(load, 1.5)) * (1 + 0.06*pm.leak)
		// Incipient cavitation from 20 % above the minimum inlet pressure.
		pmin := pl.fl.minInletPa(pl.tankT)
		inc := math.Max(0, math.Min(1, (1.2*pmin-(atmPa+pm.pIn))/(0.2*pmin+1)))
		a := math.Exp(-dt / 2)
		pm.vibAR = pm.vibAR*a + math.Sqrt(1-a*a)*0.03*rng.NormFloat64()
		if inc > 0 && rng.Float64() < 3*inc*dt {
			pm.spike = 0.1
		}
		v := base*(1+pm.vibAR) + 2*pm.vib0*inc
		if pm.spike > 0 {
			v += 3 * pm.vib0 * (0.5 + inc)
			pm.spike -= dt
		}
		pm.vib = math.Max(0, v)
	}
}
