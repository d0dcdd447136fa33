package prep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// Rules names the preprocessing rules this package implements. A Spec
// records the rules it was made with; Validate refuses any other value, so
// a model bundle prepared under different rules is refused rather than fed
// data prepared differently. Change it whenever a rule in this package
// changes the values a model sees.
const Rules = "prep/v1"

// Limits on a Spec, checked by Validate.
const (
	// MinSteps is the shortest window: a Spec is a model's input, and a
	// window of one step gives a temporal encoder no sequence to encode
	// (models/gnn refuses it too).
	MinSteps = 2
	// MaxGridHz is the highest grid rate: the grid period must be at least
	// one microsecond.
	MaxGridHz = 1e6
	// MaxCells caps sensors × steps, the size of one window.
	MaxCells = 1 << 24
	// MaxWindowS caps a window's length steps/grid_hz in seconds (about
	// 115 days), so that every time offset fits a time.Duration.
	MaxWindowS = 1e7
)

// StdFloorFraction sets the floor on a sensor's normalisation std; see
// SensorSpec.StdFloor.
const StdFloorFraction = 1e-3

// MinStdFraction sets the smallest std Validate accepts, a thousandth of
// the floor; see SensorSpec.MinStd.
const MinStdFraction = 1e-6

// ErrInvalidSpec is returned (wrapped, possibly joined with others) when a
// Spec fails Validate. Check it with errors.Is.
var ErrInvalidSpec = errors.New("prep: invalid input spec")

// Alignment says where windows start on the time axis.
type Alignment string

// Alignments.
const (
	// AlignCycle starts a window at every cycle boundary of the rig's
	// duty cycle (rig.Operation.CycleS); the window covers the first
	// Steps grid cells of the cycle.
	AlignCycle Alignment = "cycle"
	// AlignSliding starts a window every StrideSteps grid cells.
	AlignSliding Alignment = "sliding"
)

// Spec is a model's input spec: which sensors, in which order, on which
// time grid, with which normalisation. It is embedded in the model-bundle
// manifest; the trainer and the edge agent both prepare windows from it
// with this package, so a model sees identically prepared data in
// training and in the field.
//
// A Spec is plain data, safe for concurrent reads. Validate it before use
// (NewResampler, FromGrid and Resample do).
type Spec struct {
	// Rules must be Rules ("prep/v1").
	Rules string `json:"rules"`
	// Sensors are the model's input sensors. Order is significant: it is
	// the sensor-major order of Window.Values.
	Sensors []SensorSpec `json:"sensors"`
	// GridHz is the rate of the model's time grid, e.g. 1. Grid cell k of
	// a window starting at S covers [S + k/GridHz, S + (k+1)/GridHz),
	// with boundaries rounded to whole nanoseconds (see Spec.CellStart).
	GridHz float64 `json:"grid_hz"`
	// Steps is the window length T in grid cells.
	Steps int `json:"steps"`
	// Alignment is AlignCycle or AlignSliding.
	Alignment Alignment `json:"alignment"`
	// StrideSteps is the distance between sliding windows' starts in grid
	// cells (at least 1). It must be 0 for cycle alignment.
	StrideSteps int `json:"stride_steps,omitempty"`
	// MaxHoldSteps is how many grid cells after its last observed cell a
	// sensor's value is held (zero-order hold) before cells count as
	// missing; 0 holds nothing. A sensor's own MaxHoldSteps overrides it.
	MaxHoldSteps int `json:"max_hold_steps"`
}

// SensorSpec is one input sensor of a Spec.
type SensorSpec struct {
	// ID is the sensor id of the firmware config and of readings ("PS1").
	ID string `json:"id"`
	// Kind and Unit are copied from the firmware config. Optional; when
	// Kind is set, Unit must be one of rig.Units[Kind].
	Kind rig.SensorKind `json:"kind,omitempty"`
	Unit string         `json:"unit,omitempty"`
	// RateHz is the sensor's native sampling rate.
	RateHz float64 `json:"rate_hz"`
	// Range is the measuring range (zero: unknown). It sets the std floor.
	Range rig.Range `json:"range,omitzero"`
	// Mean and Std normalise the sensor's grid values: (x-Mean)/Std. Std
	// must be at least MinStd. Fill them with StatsAccumulator.Apply;
	// SpecFromConfig leaves the identity (0, 1), with Std raised to MinStd
	// for a range wider than 10^6 units.
	Mean float64 `json:"mean"`
	Std  float64 `json:"std"`
	// MaxHoldSteps overrides Spec.MaxHoldSteps for this sensor (nil: use
	// the spec's). SpecFromConfig sets it for sensors slower than the grid.
	MaxHoldSteps *int `json:"max_hold_steps,omitempty"`
}

// StdFloor returns the smallest std the package's statistics give this
// sensor: StdFloorFraction (0.1 %) of the measuring range when Range is
// set (Max > Min), else StdFloorFraction × max(|Mean|, 1).
//
// The floor keeps a sensor that was (nearly) constant in the training data
// from blowing up in the field: its values are centred and a change of one
// full scale maps to at most 1000 normalised units, instead of dividing by
// a zero or denormal std. 0.1 % of full scale is below the accuracy of
// industrial transducers (0.25-1 % FS), so a sensor whose training std is
// below the floor carried no information beyond its mean anyway.
func (s SensorSpec) StdFloor() float64 {
	return StdFloorFraction * s.stdBase()
}

// MinStd returns the smallest std Validate accepts for this sensor:
// MinStdFraction (0.0001 %) of the measuring range when Range is set, else
// MinStdFraction × max(|Mean|, 1); a thousandth of StdFloor.
//
// StatsAccumulator.Apply never gives less than StdFloor, but a spec that
// composes two normalisations (models/skab.Compose: a calibration's std
// times the model's std of calibrated values) may legitimately go below
// the floor, and shipped bundles do. Below MinStd, though, a std is no
// statistic but a blow-up: a zero-like or denormal std would turn
// ordinary values into ±Inf in the float32 Window.Values. At MinStd a
// value one full scale away from Mean normalises to 10^6.
func (s SensorSpec) MinStd() float64 {
	return MinStdFraction * s.stdBase()
}

// stdBase is what StdFloor and MinStd are fractions of.
func (s SensorSpec) stdBase() float64 {
	if s.Range.Max > s.Range.Min {
		return s.Range.Max - s.Range.Min
	}
	return math.Max(math.Abs(s.Mean), 1)
}

// holdSteps is the sensor's effective hold.
func (s SensorSpec) holdSteps(spec int) int {
	if s.MaxHoldSteps != nil {
		return *s.MaxHoldSteps
	}
	return spec
}

// SpecFromConfig returns a Spec for the active sensors of cfg, in the
// config's order, on a grid of gridHz with windows of steps cells.
//
// Alignment is AlignCycle when cfg.Operation.CycleS > 0 (the window must
// then fit in one cycle), else AlignSliding with StrideSteps = steps.
// MaxHoldSteps is 1 (one empty cell, e.g. from a jittered 1 Hz sensor on a
// 1 Hz grid, is bridged); a sensor slower than the grid gets its own hold
// of ceil(gridHz/RateHz) cells: the gap between its samples plus one
// missed cell. Normalisation is the identity (Mean 0, Std 1) until
// StatsAccumulator.Apply fills it. The result is validated.
func SpecFromConfig(cfg *rig.Config, gridHz float64, steps int) (Spec, error) {
	if cfg == nil {
		return Spec{}, fmt.Errorf("%w: nil rig config", ErrInvalidSpec)
	}
	spec := Spec{
		Rules:        Rules,
		GridHz:       gridHz,
		Steps:        steps,
		Alignment:    AlignSliding,
		StrideSteps:  steps,
		MaxHoldSteps: 1,
	}
	if cfg.Operation.CycleS > 0 {
		spec.Alignment = AlignCycle
		spec.StrideSteps = 0
	}
	for _, s := range cfg.Sensors {
		if s.Inactive {
			continue
		}
		ss := SensorSpec{ID: s.ID, Kind: s.Kind, Unit: s.Unit, RateHz: s.RateHz,
			Range: s.Range, Mean: 0, Std: 1}
		if m := ss.MinStd(); m > ss.Std && !math.IsInf(m, 0) {
			ss.Std = m // a range over 10^6 units (e.g. pressure in Pa)
		}
		if s.RateHz > 0 && s.RateHz < gridHz {
			// The tolerance keeps 1/0.1 from rounding up to 11.
			h := int(math.Ceil(gridHz/s.RateHz - 1e-9))
			if h > spec.MaxHoldSteps {
				ss.MaxHoldSteps = &h
			}
		}
		spec.Sensors = append(spec.Sensors, ss)
	}
	if len(spec.Sensors) == 0 {
		return Spec{}, fmt.Errorf("%w: rig %q has no active sensors", ErrInvalidSpec, cfg.RigType)
	}
	if err := spec.Validate(); err != nil {
		return Spec{}, err
	}
	if spec.Alignment == AlignCycle {
		if _, err := Windows(spec, cfg.Operation.CycleS); err != nil {
			return Spec{}, err
		}
	}
	return spec, nil
}

// Validate reports every problem of s, each wrapping ErrInvalidSpec and
// naming the field and the bad value; nil when s is usable.
func (s Spec) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, args...)...))
	}
	if s.Rules != Rules {
		bad("rules %q not supported (this build implements %q)", s.Rules, Rules)
	}
	if !(s.GridHz > 0 && s.GridHz <= MaxGridHz) { // also rejects NaN
		bad("grid_hz must be in (0, %g], got %v", MaxGridHz, s.GridHz)
	}
	if s.Steps < MinSteps {
		bad("steps must be at least %d (a window is a model's input sequence), got %d", MinSteps, s.Steps)
	} else if s.GridHz > 0 && float64(s.Steps)/s.GridHz > MaxWindowS {
		bad("window of %d steps at %v Hz lasts %v s, more than %g s", s.Steps, s.GridHz, float64(s.Steps)/s.GridHz, MaxWindowS)
	}
	switch s.Alignment {
	case AlignCycle:
		if s.StrideSteps != 0 {
			bad("stride_steps is only for sliding alignment, got %d with alignment %q", s.StrideSteps, s.Alignment)
		}
	case AlignSliding:
		if s.StrideSteps < 1 {
			bad("stride_steps must be at least 1 for sliding alignment, got %d", s.StrideSteps)
		} else if s.GridHz > 0 && float64(s.StrideSteps)/s.GridHz > MaxWindowS {
			bad("stride of %d steps at %v Hz lasts more than %g s", s.StrideSteps, s.GridHz, MaxWindowS)
		}
	default:
		bad("alignment must be %q or %q, got %q", AlignCycle, AlignSliding, s.Alignment)
	}
	if s.MaxHoldSteps < 0 {
		bad("max_hold_steps must be >= 0, got %d", s.MaxHoldSteps)
	}
	if len(s.Sensors) == 0 {
		bad("no sensors")
	} else if s.Steps >= 1 && len(s.Sensors) > MaxCells/s.Steps {
		bad("%d sensors x %d steps exceeds %d cells per window", len(s.Sensors), s.Steps, MaxCells)
	}
	seen := make(map[string]int, len(s.Sensors))
	for i, ss := range s.Sensors {
		if ss.ID == "" {
			bad("sensors[%d]: empty id", i)
		} else if j, dup := seen[ss.ID]; dup {
			bad("sensors[%d]: duplicate id %q (also sensors[%d])", i, ss.ID, j)
		} else {
			seen[ss.ID] = i
		}
		if ss.Kind != "" {
			units, ok := rig.Units[ss.Kind]
			if !ok {
				bad("sensors[%d] %q: unknown kind %q", i, ss.ID, ss.Kind)
			} else if !slices.Contains(units, ss.Unit) {
				bad("sensors[%d] %q: unit %q is not a unit of kind %q (one of %v)", i, ss.ID, ss.Unit, ss.Kind, units)
			}
		}
		if !(ss.RateHz > 0) || math.IsInf(ss.RateHz, 0) {
			bad("sensors[%d] %q: rate_hz must be finite and > 0, got %v", i, ss.ID, ss.RateHz)
		}
		if math.IsNaN(ss.Range.Min) || math.IsNaN(ss.Range.Max) || math.IsInf(ss.Range.Min, 0) ||
			math.IsInf(ss.Range.Max, 0) || ss.Range.Min > ss.Range.Max {
			bad("sensors[%d] %q: range must be finite with min <= max, got [%v, %v]", i, ss.ID, ss.Range.Min, ss.Range.Max)
		}
		if math.IsNaN(ss.Mean) || math.IsInf(ss.Mean, 0) {
			bad("sensors[%d] %q: mean must be finite, got %v", i, ss.ID, ss.Mean)
		}
		if !(ss.Std > 0) || math.IsInf(ss.Std, 0) {
			bad("sensors[%d] %q: std must be finite and > 0, got %v (StatsAccumulator.Apply floors it)", i, ss.ID, ss.Std)
		} else if m := ss.MinStd(); ss.Std < m {
			bad("sensors[%d] %q: std %v is below its minimum %.6g (%g of its range, or of max(|mean|, 1) without one; StatsAccumulator.Apply floors it at %.6g)",
				i, ss.ID, ss.Std, m, MinStdFraction, ss.StdFloor())
		}
		if ss.MaxHoldSteps != nil && *ss.MaxHoldSteps < 0 {
			bad("sensors[%d] %q: max_hold_steps must be >= 0, got %d", i, ss.ID, *ss.MaxHoldSteps)
		}
	}
	return errors.Join(errs...)
}

// Index returns the position of sensor id in s.Sensors, or -1.
func (s Spec) Index(id string) int {
	return slices.IndexFunc(s.Sensors, func(ss SensorSpec) bool { return ss.ID == id })
}

// CellStart returns the offset of grid cell k from a window's start:
// k/GridHz seconds rounded to the nearest nanosecond. CellStart(Steps) is
// the window's length. Readings placed at start+CellStart(k) fall in cell
// k, which is how FromGrid data corresponds to readings.
func (s Spec) CellStart(k int) time.Duration {
	return cellStart(s.GridHz, k)
}

// Duration returns the window length, CellStart(Steps).
func (s Spec) Duration() time.Duration {
	return s.CellStart(s.Steps)
}

func cellStart(gridHz float64, k int) time.Duration {
	return time.Duration(math.Round(float64(k) * 1e9 / gridHz))
}

// Digest returns "sha256:" and the hex SHA-256 of s's JSON encoding
// (encoding/json, fields in declaration order). It is stable across runs,
// platforms and releases of this package that keep Rules, and changes when
// any field changes, normalisation stats included. It fails when s does
// not validate.
func (s Spec) Digest() (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("prep: encode spec: %w", err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// ParseSpec decodes a JSON Spec strictly (unknown fields and trailing data
// fail) and validates it.
func ParseSpec(data []byte) (Spec, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return Spec{}, fmt.Errorf("%w: decode: %v", ErrInvalidSpec, err)
	}
	if err := dec.Decode(new(json.RawMessage)); err != io.EOF {
		return Spec{}, fmt.Errorf("%w: trailing data after the spec", ErrInvalidSpec)
	}
	if err := s.Validate(); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// clone returns a deep copy of s.
func (s Spec) clone() Spec {
	c := s
	c.Sensors = slices.Clone(s.Sensors)
	for i := range c.Sensors {
		if h := c.Sensors[i].MaxHoldSteps; h != nil {
			v := *h
			c.Sensors[i].MaxHoldSteps = &v
		}
	}
	return c
}
