package sim

import (
	"math"
	"strings"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Physical constants.
const (
	atmPa   = 101325.0 // absolute pressure of the atmosphere
	barPa   = 1e5
	lpmM3s  = 1.0 / 60000 // 1 l/min in m³/s
	gravity = 9.80665
)

// fluid holds the properties of the working fluid.
type fluid struct {
	water bool
	rho   float64 // density, kg/m³
	cp    float64 // specific heat, J/(kg K)
	beta  float64 // effective bulk modulus of fluid and lines, Pa
	vg    float64 // oil: kinematic viscosity at 40 C in cSt (ISO VG)
}

func newFluid(f rig.Fluid) fluid {
	t := strings.ToLower(f.Type)
	water := strings.Contains(t, "water") && !strings.Contains(t, "glycol") ||
		t == "hfc" || t == "hfa"
	fl := fluid{water: water}
	if water {
		fl.rho, fl.cp, fl.beta = 998, 4180, 1.6e9
	} else {
		fl.rho, fl.cp, fl.beta = 870, 1900, 1.0e9
		fl.vg = 46
		if f.ViscosityGrade > 0 {
			fl.vg = float64(f.ViscosityGrade)
		}
	}
	if f.DensityKgM3 > 0 {
		fl.rho = f.DensityKgM3
	}
	return fl
}

// mu returns the dynamic viscosity in Pa s at temperature tc (C). Oil
// follows an exponential fit of ISO VG mineral oils (about -3.2 %/K around
// 40 C); water the Vogel equation.
func (f *fluid) mu(tc float64) float64 {
	tc = math.Max(-20, math.Min(tc, 150))
	if f.water {
		return 2.414e-5 * math.Pow(10, 247.8/(tc+133.15))
	}
	cst := math.Max(2, f.vg*math.Exp(-0.032*(tc-40)))
	return cst * 1e-6 * f.rho
}

// vapourPa is the absolute pressure below which the fluid releases vapour
// or air at temperature tc (C).
func (f *fluid) vapourPa(tc float64) float64 {
	if f.water {
		tc = math.Max(0, math.Min(tc, 100))
		return 133.322 * math.Pow(10, 8.07131-1730.63/(233.426+tc)) // Antoine
	}
	return 0.3 * barPa // air release of mineral oil
}

// minInletPa is the absolute inlet pressure below which a pump starts to
// lose filling: 0.8 bar for oil pumps, vapour pressure plus 2 m NPSH for
// water pumps.
func (f *fluid) minInletPa(tc float64) float64 {
	if f.water {
		return f.vapourPa(tc) + 2*f.rho*gravity
	}
	return 0.8 * barPa
}
