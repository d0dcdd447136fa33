package sim

import (
	"math"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// node is a volume of the network with one pressure.
type node struct {
	name string
	vol  float64 // line and port volume, m³
	accs []*accumulator
	caps []*cylinder // cylinders whose cap chamber is this node
	rods []*cylinder // cylinders whose rod chamber is this node
	temp float64     // fluid temperature, C
	// thermal mixing, accumulated per thermal tick
	inQ, inQT float64
}

// accumulator is a gas-charged accumulator on a node.
type accumulator struct {
	id    string
	node  int
	v0    float64 // gas volume, m³
	p0Nom float64 // nominal pre-charge, gauge Pa
	p0    float64 // pre-charge in the current condition, gauge Pa
	n     float64 // polytropic exponent
	oil   float64 // oil volume held at the last solved pressure, m³
	q     float64 // flow into the accumulator over the last step, m³/s
	p     float64 // oil pressure, gauge Pa
}

// oilAt returns the oil volume held at gauge pressure p and its
// derivative: the gas follows p*V^n = const from the pre-charge; below the
// pre-charge the accumulator holds no oil. The corner at the pre-charge is
// rounded over 1 % of it so that the implicit solver converges there.
func (a *accumulator) oilAt(p float64) (v, dv float64) {
	w := 0.01*a.p0 + 0.05*barPa
	sp, dsp := softplus(p-a.p0, w)
	if sp == 0 {
		return 0, 0
	}
	pAbs := a.p0 + sp + atmPa
	r := math.Pow((a.p0+atmPa)/pAbs, 1/a.n)
	return a.v0 * (1 - r), a.v0 * r / (a.n * pAbs) * dsp
}

// gasPressure is the gas-side pressure (the pre-charge while empty).
func (a *accumulator) gasPressure() float64 { return math.Max(a.p, a.p0) }

// driver is an electric motor or engine turning pumps.
type driver struct {
	id     string
	engine bool
	pRated float64 // rated shaft power, W
	nNom   float64 // nominal (rated-load) speed, rpm
	nSync  float64 // no-load speed, rpm
	eta    float64 // rated efficiency (electric motors)
	slip   float64 // rated slip (electric) or governor droop (engine)
	volt   float64
	phases float64
	pf     float64
	tRise  float64 // body temperature rise at rated losses, K
	tau    float64 // body thermal time constant, s
	pumps  []*pump
	// state
	speed  float64 // rpm
	shaft  float64 // shaft power, W
	input  float64 // electrical input (motors) or shaft power (engines), W
	torque float64 // Nm
	body   float64 // body temperature, C
}

// losses returns the losses at shaft power ps: a constant part and a part
// growing with the square of the load, equal to the rated losses at rated
// power.
func (d *driver) losses(ps float64) float64 {
	if d.engine {
		return 0
	}
	rated := d.pRated * (1/d.eta - 1)
	x := ps / d.pRated
	return rated * (0.3 + 0.7*x*x)
}

// current returns the supply current at input power pin.
func (d *driver) current() float64 {
	if d.engine || d.volt <= 0 {
		return 0
	}
	if d.phases >= 3 {
		return d.input / (math.Sqrt(3) * d.volt * d.pf)
	}
	return d.input / (d.volt * d.pf)
}

// voltage returns the supply voltage at the motor's terminals (a 2 %
// drop at rated power).
func (d *driver) voltage() float64 {
	if d.engine {
		return 0
	}
	return d.volt * (1 - 0.02*d.input/(d.pRated/d.eta))
}

// pump is a hydraulic pump.
type pump struct {
	id      string
	out     int
	drv     *driver
	ls      bool
	disp    float64 // m³ per revolution
	nNom    float64 // rpm
	qNom    float64 // theoretical flow at nominal speed, m³/s
	pNom    float64 // nominal pressure, Pa
	etaHM   float64
	gl0     float64 // leak conductance at the reference viscosity, m³/s/Pa
	glGrade float64 // added leak conductance per leakage grade
	muRef   float64
	drag    float64 // drag power at nominal speed, W
	vib0    float64 // vibration at nominal speed and pressure, mm/s
	suction suctionPath
	margin  float64 // load sensing margin, Pa
	standby float64 // load sensing standby pressure, Pa
	cutoff  float64 // load sensing pressure cut-off, Pa
	elem    *pumpElem
	loads   []loadRef // what this pump feeds (for SE)
	// conditions
	leak, cav float64 // leakage grade, cavitation fraction
	// state
	speed  float64 // rpm
	fill   float64 // filling of the displacement chambers (1: full)
	pIn    float64 // inlet pressure, gauge Pa
	q      float64 // delivered flow, m³/s
	pOut   float64
	shaft  float64 // shaft power, W
	hyd    float64 // hydraulic output power, W
	useful float64 // power delivered to loads, W
	eps    float64 // displacement fraction (load sensing)
	vibAR  float64 // slow fluctuation of vibration
	spike  float64 // remaining time of a cavitation burst, s
	vib    float64 // vibration, mm/s RMS
}

// suctionPath is the line (and valves, strainers) from the tank to a
// pump's inlet: dp = ca*q + cb*q² at the current viscosity.
type suctionPath struct {
	lines  []lineGeom
	valveK []float64 // Cd*A*sqrt(2/rho) of valves in the path (open)
}

type lineGeom struct {
	d, l float64 // m
}

// lineCoeffs returns the laminar and turbulent coefficients of a line.
func lineCoeffs(g lineGeom, mu, rho float64) (ca, cb float64) {
	if g.d <= 0 || g.l <= 0 {
		return 0, 0
	}
	area := math.Pi / 4 * g.d * g.d
	ca = 128 * mu * g.l / (math.Pi * math.Pow(g.d, 4))
	k := 0.03*g.l/g.d + 0.5 // wall friction plus fittings
	cb = k * rho / (2 * area * area)
	return ca, cb
}

// valve roles.
type valveRole int

const (
	roleWorking valveRole = iota // switched by the load program
	roleRelief                   // a pressure relief on a pump line
	roleSuction                  // in a pump's suction line, always open
)

// valve is a valve component.
type valve struct {
	id       string
	role     valveRole
	in       int // P
	ret      int // T (return port), -2 when it has none
	kMax     float64
	tSwitch  float64 // nominal switching time, s
	sections []*section
	relief   *relief // roleRelief
	pilot    int     // pilot node (-2: none)
	pilotSet float64 // Pa
	reducer  *reducer
	pilotUse *sink
	spoolVol float64 // pilot oil per full spool stroke, m³
	cond     float64 // condition, fraction (1 healthy)
}

// noNode marks a port that does not exist.
const noNode = -2

// section is one spool of a working valve: a 4/3 section driving an
// actuator, or a 3/2 section feeding an implicit load (the rig's load
// valve, set by the load program) that vents its load side when closed.
type section struct {
	v       *valve
	cyl     *cylinder
	mot     *hmotor
	a, b    int // load-side nodes (b: noNode for implicit loads)
	pa, bt  *orifice
	pb, at  *orifice
	vent    *orifice // implicit loads: A→T when closed
	load    *relief  // implicit loads
	x       float64  // spool opening in [-1, 1]
	target  float64
	dir     float64 // commanded direction of the next activation
	active  bool
	started bool    // activated at least once
	loadRef float64 // reference flow of the implicit load, m³/s
}

// actuator reports whether the section drives an actuator.
func (s *section) actuator() string {
	switch {
	case s.cyl != nil:
		return s.cyl.id
	case s.mot != nil:
		return s.mot.id
	}
	return ""
}

// loadRef is something a pump feeds that does useful work.
type loadRef struct {
	sec *section
}

// cylinder is a double-acting cylinder.
type cylinder struct {
	id         string
	cap, rod   int
	acap, arod float64 // m²
	stroke     float64 // m
	dead       float64 // dead volume per chamber, m³
	damp       float64 // viscous coefficient, N s/m
	fw         float64 // smoothing width of the drive force, N
	glGrade    float64 // cross-piston leak per leakage grade
	leakElem   *resistance
	elem       *cylElem
	// state
	x     float64 // position from retracted, m
	dir   float64 // +1 extending, -1 retracting, 0 locked
	fload float64 // load force opposing motion, N
	leak  float64 // leakage grade
}

func (c *cylinder) blocked() bool {
	return c.dir > 0 && c.x >= c.stroke || c.dir < 0 && c.x <= 0
}

// hmotor is a hydraulic motor.
type hmotor struct {
	id       string
	in, out  int
	drain    int
	dispRad  float64 // m³ per radian
	etaHM    float64
	damp     float64 // N m s
	tw       float64 // smoothing width, N m
	gl0      float64 // leak conductance to the case drain
	glGrade  float64
	leakIn   *resistance
	leakOut  *resistance
	elem     *motorElem
	dir      float64
	tload    float64
	leak     float64
	nominalN float64 // rpm
}

// passive is a filter, heat exchanger or heater: a resistance between its
// ports, with heat exchange for coolers and heaters.
type passive struct {
	id      string
	typ     rig.ComponentType
	in, out int
	dpNom   float64 // Pa at qNom, clean, at the reference viscosity
	qNom    float64 // m³/s
	lam     float64 // laminar fraction of dpNom
	res     *resistance
	// coolers
	uaFull  float64 // W/K at full efficiency
	passive float64 // fraction of ua independent of condition
	heat    float64 // heaters: W
	// conditions
	eff  float64 // cooler efficiency, fraction
	clog float64 // filter clogging, fraction
	// state
	qc        float64 // heat removed from the fluid, W (heaters: negative)
	tIn, tOut float64
}

// retLine is a line into the tank.
type retLine struct {
	node int
	geom lineGeom
	bar  float64 // back-pressure at qRef, Pa
	qRef float64
	res  *resistance
}
