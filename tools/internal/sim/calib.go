package sim

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Calibration adjusts the simulator's physical parameters for one rig type
// where the firmware config's nominal values do not reproduce the real rig
// (for example a pump's effective displacement). Every field is optional:
// nil keeps the value derived from the config or the simulator's default.
//
// Calibrations for known rig types are built in (see Builtin); a file given
// to rigsim with --calibration replaces the built-in one.
type Calibration struct {
	// RigType must match the config's rig_type.
	RigType string `yaml:"rig_type"`
	// Plant holds rig-wide parameters.
	Plant PlantParams `yaml:"plant,omitempty"`
	// Components maps component ids to their parameters.
	Components map[string]ComponentParams `yaml:"components,omitempty"`
	// Sensors maps sensor ids to the point the simulator reads them at,
	// where the firmware config's placement is not where the real sensor
	// measures (the config's placement stays what the bundles were trained
	// on and what its digest covers).
	Sensors map[string]SensorPoint `yaml:"sensors,omitempty"`
}

// SensorPoint is a component port a sensor is read at.
type SensorPoint struct {
	Component string   `yaml:"component"`
	Port      rig.Port `yaml:"port,omitempty"`
}

// PlantParams are rig-wide physical parameters.
type PlantParams struct {
	// AmbientUAWK is the heat-loss conductance of tank and lines to the
	// ambient in W/K (nil: 15 W/(m² K) over the surface of a cube holding
	// the tank volume, plus 30 % for lines and components).
	AmbientUAWK *float64 `yaml:"ambient_ua_w_k,omitempty"`
	// ThermalMassKJK is the heat capacity of fluid, tank and components in
	// kJ/K (nil: 1.5 times the tank's fluid).
	ThermalMassKJK *float64 `yaml:"thermal_mass_kj_k,omitempty"`
	// BulkModulusBar is the effective bulk modulus of fluid and lines
	// (nil: 10000 bar for oil, 16000 for water).
	BulkModulusBar *float64 `yaml:"bulk_modulus_bar,omitempty"`
	// ProgramDelayS delays the load program within each cycle (nil: 0):
	// every step starts that much after its at_s, the last step running on
	// into the next cycle, as where the data's recording window starts
	// before the controller switches.
	ProgramDelayS *float64 `yaml:"program_delay_s,omitempty"`
}

// ComponentParams override a component's nominal values and set the
// simulator's own parameters. Keys that do not apply to the component's
// type are refused.
type ComponentParams struct {
	// Nominal overrides (same meaning and units as rig.Nominal).
	DisplacementCC  *float64 `yaml:"displacement_cc,omitempty"`
	SpeedRPM        *float64 `yaml:"speed_rpm,omitempty"`
	FlowLPM         *float64 `yaml:"flow_lpm,omitempty"`
	PressureBar     *float64 `yaml:"pressure_bar,omitempty"`
	PowerKW         *float64 `yaml:"power_kw,omitempty"`
	Efficiency      *float64 `yaml:"efficiency,omitempty"`
	VolumeL         *float64 `yaml:"volume_l,omitempty"`
	PrechargeBar    *float64 `yaml:"precharge_bar,omitempty"`
	SwitchTimeMS    *float64 `yaml:"switch_time_ms,omitempty"`
	OrificeMM2      *float64 `yaml:"orifice_mm2,omitempty"`
	HeatKW          *float64 `yaml:"heat_kw,omitempty"`
	PressureDropBar *float64 `yaml:"pressure_drop_bar,omitempty"`

	// MechEfficiency is a pump's or motor's hydro-mechanical efficiency
	// (nil: 0.92).
	MechEfficiency *float64 `yaml:"mech_efficiency,omitempty"`
	// Control is a pump's control: "fixed" (fixed displacement) or
	// "load_sensing" (variable, load-sensing with pressure cut-off and
	// power limit). Empty: load_sensing for pumps driven by an engine,
	// fixed otherwise.
	Control string `yaml:"control,omitempty"`
	// VibrationMMS is a pump's housing vibration (RMS velocity) at nominal
	// speed and pressure (nil: 1 mm/s).
	VibrationMMS *float64 `yaml:"vibration_mm_s,omitempty"`
	// RatedDeltaC is the oil-to-ambient temperature difference at which a
	// cooler transfers its heat_kw at full efficiency (nil: 40 K, the
	// entering temperature difference catalogues rate oil coolers at).
	RatedDeltaC *float64 `yaml:"rated_delta_c,omitempty"`
	// PassiveFraction is the part of a cooler's heat transfer that does
	// not depend on its condition (natural convection with the fan
	// stopped; nil: 0.25).
	PassiveFraction *float64 `yaml:"passive_fraction,omitempty"`
	// LaminarFraction is the viscous (laminar) part of a filter's or
	// cooler's pressure drop at nominal flow; the rest is turbulent (nil:
	// 0.7 for filters, 0.5 for coolers).
	LaminarFraction *float64 `yaml:"laminar_fraction,omitempty"`
	// ReturnBar is the back-pressure of the component's line into the tank
	// at nominal flow, on top of the line's own losses (return filter,
	// check valve, diffuser; nil: 0).
	ReturnBar *float64 `yaml:"return_bar,omitempty"`
	// VoltageV, Phases and PowerFactor describe an electric motor's supply
	// (nil: 400 V three-phase from 1.5 kW up, 230 V single-phase below;
	// power factor 0.8).
	VoltageV    *float64 `yaml:"voltage_v,omitempty"`
	Phases      *float64 `yaml:"phases,omitempty"`
	PowerFactor *float64 `yaml:"power_factor,omitempty"`
	// TempRiseC is an electric motor's or engine's body temperature rise
	// over ambient at rated losses (nil: 60 K).
	TempRiseC *float64 `yaml:"temp_rise_c,omitempty"`
}

//go:embed calib/*.yaml
var builtinFS embed.FS

// Builtin returns the built-in calibration for a rig type (nil, false when
// there is none).
func Builtin(rigType string) (*Calibration, bool) {
	data, err := builtinFS.ReadFile("calib/" + rigType + ".yaml")
	if err != nil {
		return nil, false
	}
	c, err := ParseCalibration("builtin/"+rigType+".yaml", data)
	if err != nil {
		// A broken built-in file is caught by the tests.
		return nil, false
	}
	return c, true
}

// LoadCalibration reads a calibration file.
func LoadCalibration(path string) (*Calibration, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load calibration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("load calibration %s: %w", path, err)
	}
	return ParseCalibration(path, data)
}

// ParseCalibration decodes a calibration strictly (unknown keys fail) and
// checks that every value is finite and positive.
func ParseCalibration(name string, data []byte) (c *Calibration, err error) {
	if len(data) > 1<<20 {
		return nil, fmt.Errorf("calibration %s: file is larger than 1 MiB", name)
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("calibration %s: YAML could not be decoded (%v)", name, r)
		}
	}()
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("calibration %s: file is empty", name)
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("calibration %s: %s", name, firstLine(err.Error()))
	}
	if hasAlias(file) {
		return nil, fmt.Errorf("calibration %s: YAML anchors and aliases are not allowed", name)
	}
	c = &Calibration{}
	if err := yaml.UnmarshalWithOptions(data, c, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		return nil, fmt.Errorf("calibration %s: %s", name, firstLine(err.Error()))
	}
	if c.RigType == "" {
		return nil, fmt.Errorf("calibration %s: rig_type: missing", name)
	}
	if err := checkPositive(reflect.ValueOf(c.Plant), "plant"); err != nil {
		return nil, fmt.Errorf("calibration %s: %w", name, err)
	}
	for id, p := range c.Components {
		if err := checkPositive(reflect.ValueOf(p), "components."+id); err != nil {
			return nil, fmt.Errorf("calibration %s: %w", name, err)
		}
		if p.Control != "" && p.Control != controlFixed && p.Control != controlLS {
			return nil, fmt.Errorf("calibration %s: components.%s.control: %q; want %q or %q",
				name, id, p.Control, controlFixed, controlLS)
		}
	}
	return c, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// hasAlias reports whether f holds an anchor or alias (refused: expanding
// nested aliases costs time exponential in the file size).
func hasAlias(f *ast.File) bool {
	found := false
	for _, d := range f.Docs {
		ast.Walk(visitFunc(func(n ast.Node) bool {
			switch n.(type) {
			case *ast.AliasNode, *ast.AnchorNode:
				found = true
			}
			return !found
		}), d)
	}
	return found
}

type visitFunc func(ast.Node) bool

func (v visitFunc) Visit(n ast.Node) ast.Visitor {
	if n == nil || !v(n) {
		return nil
	}
	return v
}

func checkPositive(v reflect.Value, path string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		x := f.Elem().Float()
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if !(x > 0) || math.IsInf(x, 0) {
			return fmt.Errorf("%s.%s: %v; want a finite number > 0", path, key, x)
		}
		if (strings.HasSuffix(key, "efficiency") || strings.HasSuffix(key, "fraction") || key == "power_factor") && x > 1 {
			return fmt.Errorf("%s.%s: %v; want a fraction in (0, 1]", path, key, x)
		}
	}
	return nil
}

// check binds a calibration to a config: the rig type must match, every
// component and sensor must exist, a program delay must fall within the
// rig's cycle, and a sensor override must name an active sensor and a port
// that is valid for the component (rig.CheckSensorPort, as the config's
// own validation) and at which the simulator can produce the sensor's kind.
func (c *Calibration) check(cfg *rig.Config) error {
	if c.RigType != cfg.RigType {
		return fmt.Errorf("calibration is for rig type %q, the config is %q", c.RigType, cfg.RigType)
	}
	var errs []error
	for id := range c.Components {
		if cfg.ComponentIndex(id) < 0 {
			errs = append(errs, fmt.Errorf("calibration: components.%s: no such component in rig %s", id, cfg.RigType))
		}
	}
	if d := c.Plant.ProgramDelayS; d != nil {
		switch cyc := cfg.Operation.CycleS; {
		case cyc <= 0:
			errs = append(errs, fmt.Errorf("calibration: plant.program_delay_s: %v s, but rig %s runs no cycle (operation.cycle_s is 0)", *d, cfg.RigType))
		case *d >= cyc:
			errs = append(errs, fmt.Errorf("calibration: plant.program_delay_s: %v s; want less than rig %s's %v s cycle", *d, cfg.RigType, cyc))
		}
	}
	for id, p := range c.Sensors {
		sn := cfg.Sensor(id)
		switch {
		case sn == nil:
			errs = append(errs, fmt.Errorf("calibration: sensors.%s: no such sensor in rig %s", id, cfg.RigType))
		case sn.Inactive:
			// The simulator does not simulate inactive sensors (no
			// channel, no output), so the override would have no effect.
			errs = append(errs, fmt.Errorf("calibration: sensors.%s: the sensor is inactive in rig %s and not simulated (drop the override)", id, cfg.RigType))
		}
		var comp *rig.Component
		if i := cfg.ComponentIndex(p.Component); i >= 0 {
			comp = &cfg.Components[i]
		} else {
			errs = append(errs, fmt.Errorf("calibration: sensors.%s.component: no such component %q in rig %s", id, p.Component, cfg.RigType))
		}
		if err := rig.CheckSensorPort(p.Port, comp); err != nil {
			errs = append(errs, fmt.Errorf("calibration: sensors.%s.port: %w", id, err))
		} else if sn != nil && !sn.Inactive && comp != nil {
			if _, err := findRule(comp.Type, sn.Kind, p.Port); err != nil {
				errs = append(errs, fmt.Errorf("calibration: sensors.%s.port: %s %s: %w", id, comp.Type, comp.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// params returns the parameters of one component (zero when none).
func (c *Calibration) params(id string) ComponentParams {
	if c == nil {
		return ComponentParams{}
	}
	return c.Components[id]
}

// or returns *p, or def when p is nil.
func or(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}

// nominal returns the component's nominal values with the calibration's
// overrides applied.
func (p ComponentParams) nominal(n rig.Nominal) rig.Nominal {
	set := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	set(&n.DisplacementCC, p.DisplacementCC)
	set(&n.SpeedRPM, p.SpeedRPM)
	set(&n.FlowLPM, p.FlowLPM)
	set(&n.PressureBar, p.PressureBar)
	set(&n.PowerKW, p.PowerKW)
	set(&n.Efficiency, p.Efficiency)
	set(&n.VolumeL, p.VolumeL)
	set(&n.PrechargeBar, p.PrechargeBar)
	set(&n.SwitchTimeMS, p.SwitchTimeMS)
	set(&n.OrificeMM2, p.OrificeMM2)
	set(&n.HeatKW, p.HeatKW)
	set(&n.PressureDropBar, p.PressureDropBar)
	return n
}

// Pump controls.
const (
	controlFixed = "fixed"
	controlLS    = "load_sensing"
)
