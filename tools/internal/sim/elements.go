package sim

import "math"

// The hydraulic network is a set of nodes (volumes with a pressure) joined
// by elements (orifices, resistances, relief valves, pumps, actuators).
// Node -1 is the tank, held at atmospheric pressure (0 gauge). Pressures
// are gauge, in Pa; flows in m³/s.

// tankNode is the index of the tank in element endpoints.
const tankNode = -1

// element is one part of the network. stamp adds the flows it causes at
// pressures p into the system (with their derivatives); commit records the
// flows at the solved pressures for sensors and heat.
type element interface {
	stamp(p []float64, s *system)
	commit(p []float64)
}

// system is the network linearised at one Newton iterate.
type system struct {
	n int
	r []float64 // net inflow into each node
	j []float64 // dr_i/dp_j, row-major n×n
}

func newSystem(n int) *system {
	return &system{n: n, r: make([]float64, n), j: make([]float64, n*n)}
}

func (s *system) reset() {
	clear(s.r)
	clear(s.j)
}

// flow adds a flow q from node a to node b with derivatives dqa = dq/dpa
// and dqb = dq/dpb.
func (s *system) flow(a, b int, q, dqa, dqb float64) {
	n := s.n
	if a >= 0 {
		s.r[a] -= q
		s.j[a*n+a] -= dqa
		if b >= 0 {
			s.j[a*n+b] -= dqb
		}
	}
	if b >= 0 {
		s.r[b] += q
		s.j[b*n+b] += dqb
		if a >= 0 {
			s.j[b*n+a] += dqa
		}
	}
}

func pr(p []float64, i int) float64 {
	if i < 0 {
		return 0
	}
	return p[i]
}

// orificeTransPa is the pressure difference below which an orifice's
// square-root law blends into a linear (laminar) one, keeping its
// derivative finite at zero.
const orificeTransPa = 0.05 * barPa

// orificeFlow returns the flow k*sign(dp)*sqrt(|dp|) regularised around 0,
// and its derivative. k = Cd*A*sqrt(2/rho).
func orificeFlow(k, dp float64) (q, dq float64) {
	if k == 0 {
		return 0, 0
	}
	s := dp*dp + orificeTransPa*orificeTransPa
	r := math.Pow(s, 0.25)
	q = k * dp / r
	dq = k * (0.5*dp*dp + orificeTransPa*orificeTransPa) / (s * r)
	return q, dq
}

// softplus is a smooth max(0, x) with width w, and its derivative.
func softplus(x, w float64) (y, dy float64) {
	z := x / w
	switch {
	case z > 30:
		return x, 1
	case z < -30:
		return 0, 0
	}
	e := math.Exp(z)
	return w * math.Log1p(e), e / (1 + e)
}

// orifice is a sharp-edged orifice (a valve path); k is set by the valve's
// opening.
type orifice struct {
	a, b  int
	k     float64 // Cd*A*sqrt(2/rho) of the current opening
	q, dp float64
}

func (o *orifice) stamp(p []float64, s *system) {
	if o.k == 0 {
		return
	}
	q, dq := orificeFlow(o.k, pr(p, o.a)-pr(p, o.b))
	s.flow(o.a, o.b, q, dq, -dq)
}

func (o *orifice) commit(p []float64) {
	o.dp = pr(p, o.a) - pr(p, o.b)
	o.q, _ = orificeFlow(o.k, o.dp)
}

// resistance has dp = ca*q + cb*q*|q| (a line, filter or cooler: laminar
// plus turbulent); ca and cb are updated with viscosity and condition.
type resistance struct {
	a, b   int
	ca, cb float64
	hx     *passive // the filter, cooler or heater it belongs to
	q, dp  float64
}

// flowAt inverts dp = ca*q + cb*q|q|.
func (r *resistance) flowAt(dp float64) (q, dq float64) {
	ad := math.Abs(dp)
	if r.cb <= 0 {
		return dp / r.ca, 1 / r.ca
	}
	root := math.Sqrt(r.ca*r.ca + 4*r.cb*ad)
	q = (root - r.ca) / (2 * r.cb)
	if dp < 0 {
		q = -q
	}
	return q, 1 / root
}

func (r *resistance) stamp(p []float64, s *system) {
	q, dq := r.flowAt(pr(p, r.a) - pr(p, r.b))
	s.flow(r.a, r.b, q, dq, -dq)
}

func (r *resistance) commit(p []float64) {
	r.dp = pr(p, r.a) - pr(p, r.b)
	r.q, _ = r.flowAt(r.dp)
}

// relief is a pressure-relief characteristic: closed below the cracking
// pressure, then flow rising with gain g per Pa of override (a relief
// valve, or a proportional relief valve acting as the load).
type relief struct {
	a, b  int
	crack float64 // Pa
	g     float64 // m³/s per Pa above crack
	w     float64 // smoothing width, Pa
	leak  float64 // conductance when closed, m³/s/Pa
	on    bool    // false: no flow (a load that is not active)
	q, dp float64
}

func (r *relief) flowAt(dp float64) (q, dq float64) {
	if !r.on {
		return 0, 0
	}
	y, dy := softplus(dp-r.crack, r.w)
	return r.g*y + r.leak*dp, r.g*dy + r.leak
}

func (r *relief) stamp(p []float64, s *system) {
	q, dq := r.flowAt(pr(p, r.a) - pr(p, r.b))
	if q != 0 || dq != 0 {
		s.flow(r.a, r.b, q, dq, -dq)
	}
}

func (r *relief) commit(p []float64) {
	r.dp = pr(p, r.a) - pr(p, r.b)
	r.q, _ = r.flowAt(r.dp)
}

// reducer is a pressure-reducing valve feeding node b (a pilot supply) from
// node a: its opening closes as p_b approaches set.
type reducer struct {
	a, b  int
	k     float64 // Cd*A*sqrt(2/rho) fully open
	set   float64 // Pa
	w     float64 // Pa
	q, dp float64
}

func (r *reducer) flowAt(pa, pb float64) (q, dqa, dqb float64) {
	z := (r.set - pb) / r.w
	var open, dopen float64 // opening and d(opening)/dpb
	switch {
	case z > 30:
		open = 1
	case z < -30:
	default:
		e := math.Exp(-z)
		open = 1 / (1 + e)
		dopen = -open * (1 - open) / r.w
	}
	f, df := orificeFlow(r.k, pa-pb)
	if f < 0 {
		f, df = 0, 0 // a check: no back flow into the supply
	}
	return open * f, open * df, dopen*f - open*df
}

func (r *reducer) stamp(p []float64, s *system) {
	q, dqa, dqb := r.flowAt(pr(p, r.a), pr(p, r.b))
	s.flow(r.a, r.b, q, dqa, dqb)
}

func (r *reducer) commit(p []float64) {
	r.dp = pr(p, r.a) - pr(p, r.b)
	r.q, _, _ = r.flowAt(pr(p, r.a), pr(p, r.b))
}

// sink draws a flow set by the controller from node a to the tank (pilot
// consumption of switching spools).
type sink struct {
	a int
	q float64
}

func (k *sink) stamp(p []float64, s *system) {
	if k.q != 0 {
		s.flow(k.a, tankNode, k.q, 0, 0)
	}
}

func (k *sink) commit([]float64) {}

// pumpElem is a pump's delivery into its outlet node. A fixed pump delivers
// its theoretical flow minus a laminar leak; a load-sensing pump delivers
// what keeps its outlet at the target pressure, up to its limit.
type pumpElem struct {
	out  int
	ls   bool
	qth  float64 // fixed: theoretical flow (speed × displacement × filling)
	gl   float64 // leak conductance, m³/s/Pa
	qmax float64 // load sensing: the largest delivery (displacement, power)
	pt   float64 // load sensing: target outlet pressure, Pa
	gain float64 // load sensing: m³/s per Pa of pressure error
	q, p float64
}

// lsWidth is the smoothing of a load-sensing pump's limits, as a fraction
// of its largest delivery.
const lsWidth = 0.02

func (e *pumpElem) flowAt(pb float64) (q, dq float64) {
	if !e.ls {
		return e.qth - e.gl*pb, -e.gl
	}
	if e.qmax <= 0 {
		return 0, 0
	}
	// q = clamp(gain*(pt-pb), 0, qmax), smoothed at both ends.
	w := lsWidth * e.qmax
	u := e.gain * (e.pt - pb)
	lo, dlo := softplus(u, w)
	hi, dhi := softplus(u-e.qmax, w)
	return lo - hi, -e.gain * (dlo - dhi)
}

func (e *pumpElem) stamp(p []float64, s *system) {
	q, dq := e.flowAt(pr(p, e.out))
	s.flow(tankNode, e.out, q, 0, dq)
}

func (e *pumpElem) commit(p []float64) {
	e.p = pr(p, e.out)
	e.q, _ = e.flowAt(e.p)
}

// cylElem is a double-acting cylinder moving quasi-statically: its speed
// follows the force left over after the load (a viscous load and friction
// model), in the direction its valve section commands; locked when the
// section is closed or at an end stop.
type cylElem struct {
	c       *cylinder
	v       float64
	capFlow float64
}

func (e *cylElem) speedAt(pcap, prod float64) (v, dvc, dvr float64) {
	c := e.c
	if c.dir == 0 || c.blocked() {
		return 0, 0, 0
	}
	drive := c.dir*(pcap*c.acap-prod*c.arod) - c.fload
	y, dy := softplus(drive, c.fw)
	v = c.dir * y / c.damp
	dvc = c.dir * dy * c.acap * c.dir / c.damp
	dvr = -c.dir * dy * c.arod * c.dir / c.damp
	return v, dvc, dvr
}

func (e *cylElem) stamp(p []float64, s *system) {
	c := e.c
	v, dvc, dvr := e.speedAt(pr(p, c.cap), pr(p, c.rod))
	if v == 0 && dvc == 0 && dvr == 0 {
		return
	}
	// Oil leaves the cap node into the cylinder (acap*v) and the rod side
	// pushes arod*v into the rod node.
	s.flow(c.cap, tankNode, c.acap*v, c.acap*dvc, 0)
	s.flow(tankNode, c.rod, c.arod*v, 0, c.arod*dvr)
	if c.cap >= 0 && c.rod >= 0 {
		s.j[c.cap*s.n+c.rod] -= c.acap * dvr
		s.j[c.rod*s.n+c.cap] += c.arod * dvc
	}
}

func (e *cylElem) commit(p []float64) {
	e.v, _, _ = e.speedAt(pr(p, e.c.cap), pr(p, e.c.rod))
	e.capFlow = e.c.acap * e.v
}

// motorElem is a hydraulic motor turning quasi-statically: its speed
// follows the torque left over after the load.
type motorElem struct {
	m     *hmotor
	omega float64 // rad/s
}

func (e *motorElem) speedAt(pin, pout float64) (w, dwi, dwo float64) {
	m := e.m
	if m.dir == 0 {
		return 0, 0, 0
	}
	drive := m.dir*(pin-pout)*m.dispRad*m.etaHM - m.tload
	y, dy := softplus(drive, m.tw)
	w = m.dir * y / m.damp
	dwi = dy * m.dispRad * m.etaHM / m.damp
	return w, dwi, -dwi
}

func (e *motorElem) stamp(p []float64, s *system) {
	m := e.m
	w, dwi, dwo := e.speedAt(pr(p, m.in), pr(p, m.out))
	if w == 0 && dwi == 0 {
		return
	}
	q, dqi, dqo := m.dispRad*w, m.dispRad*dwi, m.dispRad*dwo
	s.flow(m.in, m.out, q, dqi, dqo)
}

func (e *motorElem) commit(p []float64) {
	e.omega, _, _ = e.speedAt(pr(p, e.m.in), pr(p, e.m.out))
}
