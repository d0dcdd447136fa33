package sim

import "math"

// solver integrates the node pressures with backward Euler, solving the
// implicit step with Newton's method. Backward Euler keeps small volumes
// behind large orifices stable at a 1 ms step, where an explicit method
// would need microseconds.
type solver struct {
	n     int
	sys   *system
	a     []float64 // Newton matrix, row-major
	f     []float64 // residual, then the update
	pOld  []float64
	pIt   []float64 // pressures at the start of a Newton iteration
	step  []float64 // Newton update
	stor  []float64 // stored volume per node at pOld
	dstor []float64 // its derivative at the last evaluated pressures
	// statistics
	iters, fails int
}

// Newton's stopping rule.
const (
	newtonMaxIter = 6
	newtonTolPa   = 20 // Pa
	maxUpdatePa   = 100 * barPa
	minPressurePa = -0.95 * barPa // lines cannot go below vacuum
)

func newSolver(n int) *solver {
	return &solver{n: n, sys: newSystem(n), a: make([]float64, n*n), f: make([]float64, n),
		pOld: make([]float64, n), pIt: make([]float64, n), step: make([]float64, n), stor: make([]float64, n), dstor: make([]float64, n)}
}

// storage returns the volume stored at node i by compressing the fluid in
// its lines and chambers and by its accumulators, relative to p = 0, and
// its derivative.
func (pl *plant) storage(i int, p float64) (v, dv float64) {
	nd := &pl.nodes[i]
	vol := nd.vol
	for _, c := range nd.caps {
		vol += c.dead + c.acap*c.x
	}
	for _, c := range nd.rods {
		vol += c.dead + c.arod*(c.stroke-c.x)
	}
	c := vol / pl.fl.beta
	v, dv = c*p, c
	for _, a := range nd.accs {
		av, adv := a.oilAt(p)
		v += av
		dv += adv
	}
	return v, dv
}

// eval assembles the network at pressures p: the linearised system in
// s.sys and the residual (negated) in s.f. It returns the residual's
// squared norm.
func (s *solver) eval(pl *plant, p []float64, dt float64) float64 {
	s.sys.reset()
	for _, e := range pl.elems {
		e.stamp(p, s.sys)
	}
	norm := 0.0
	for i := range s.n {
		v, dv := pl.storage(i, p[i])
		s.dstor[i] = dv
		f := (v-s.stor[i])/dt - s.sys.r[i]
		s.f[i] = -f
		norm += f * f
	}
	return norm
}

// solve advances the pressures by dt. Newton steps that would increase
// the residual are halved (up to four times): the steep characteristics of
// relief valves, saturating pumps and actuators otherwise make Newton jump
// between two states.
func (s *solver) solve(pl *plant, dt float64) {
	n := s.n
	p := pl.p
	copy(s.pOld, p)
	for i := range n {
		s.stor[i], _ = pl.storage(i, p[i])
	}
	norm := s.eval(pl, p, dt)
	converged := false
	for it := 0; it < newtonMaxIter; it++ {
		s.iters++
		for i := range n {
			dv := s.dstor[i]
			row := s.a[i*n : (i+1)*n]
			for j := range n {
				row[j] = -s.sys.j[i*n+j]
			}
			row[i] += dv / dt
		}
		copy(s.step, s.f)
		if !luSolve(s.a, s.step, n) {
			break
		}
		copy(s.pIt, p)
		lambda := 1.0
		var maxd float64
		for try := 0; ; try++ {
			maxd = 0
			for i := range n {
				d := lambda * math.Max(-maxUpdatePa, math.Min(maxUpdatePa, s.step[i]))
				p[i] = math.Max(minPressurePa, s.pIt[i]+d)
				maxd = math.Max(maxd, math.Abs(d))
			}
			nn := s.eval(pl, p, dt)
			if nn <= norm || try == 4 || maxd < newtonTolPa {
				norm = nn
				break
			}
			lambda /= 2
		}
		if maxd < newtonTolPa {
			converged = true
			break
		}
	}
	if !converged {
		s.fails++
	}
	for _, e := range pl.elems {
		e.commit(p)
	}
}

// luSolve solves a x = b in place (b becomes x) by Gaussian elimination
// with partial pivoting; a is destroyed. It returns false for a singular
// matrix.
func luSolve(a, b []float64, n int) bool {
	for k := range n {
		piv, best := k, math.Abs(a[k*n+k])
		for i := k + 1; i < n; i++ {
			if v := math.Abs(a[i*n+k]); v > best {
				piv, best = i, v
			}
		}
		if best == 0 || math.IsNaN(best) {
			return false
		}
		if piv != k {
			for j := range n {
				a[k*n+j], a[piv*n+j] = a[piv*n+j], a[k*n+j]
			}
			b[k], b[piv] = b[piv], b[k]
		}
		d := a[k*n+k]
		for i := k + 1; i < n; i++ {
			f := a[i*n+k] / d
			if f == 0 {
				continue
			}
			for j := k + 1; j < n; j++ {
				a[i*n+j] -= f * a[k*n+j]
			}
			b[i] -= f * b[k]
		}
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for j := i + 1; j < n; j++ {
			s -= a[i*n+j] * b[j]
		}
		b[i] = s / a[i*n+i]
	}
	return true
}
