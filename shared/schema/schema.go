// Package schema generates JSON Schema (draft 2020-12) documents for the
// project's contracts: the rig description (firmware config), a sensor
// reading, a diagnosis and a model-bundle manifest. `rigctl schema` prints
// them; editors and other tools can validate files against them.
//
// The schemas are reflected from the Go types, so they cannot drift from
// the code; a test validates every shipped firmware config against the rig
// schema with an independent validator.
package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/invopop/jsonschema"

	"github.com/hydrognn/hydrognn/shared/bundle"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/reading"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// BaseURI prefixes the $id of every schema.
const BaseURI = "https://hydrognn.dev/schema/"

var types = map[string]any{
	"rig":       &rig.Config{},
	"reading":   &reading.Reading{},
	"diagnosis": &diag.Diagnosis{},
	"manifest":  &bundle.Manifest{},
}

// Names returns the names of the available schemas, sorted.
func Names() []string {
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// For returns the JSON Schema of the named contract, indented.
func For(name string) ([]byte, error) {
	v, ok := types[name]
	if !ok {
		return nil, fmt.Errorf("unknown schema %q (want one of %v)", name, Names())
	}
	r := &jsonschema.Reflector{
		// Keys are the JSON/YAML names; unknown keys are refused by the
		// loaders, so the schemas forbid them too.
		AllowAdditionalProperties: false,
		DoNotReference:            false,
	}
	s := r.Reflect(v)
	s.ID = jsonschema.ID(BaseURI + name + ".json")
	if name == "rig" {
		enrichRig(s)
	}
	return json.MarshalIndent(s, "", "  ")
}

// enrichRig adds the enumerations the Go types cannot express.
func enrichRig(s *jsonschema.Schema) {
	def := func(name string) *jsonschema.Schema { return s.Definitions[name] }
	setEnum := func(d *jsonschema.Schema, prop string, values []any) {
		if d == nil {
			return
		}
		if p, ok := d.Properties.Get(prop); ok {
			p.Enum = values
		}
	}
	setPattern := func(d *jsonschema.Schema, prop, pattern string) {
		if d == nil {
			return
		}
		if p, ok := d.Properties.Get(prop); ok {
			p.Pattern = pattern
		}
	}
	setEnum(def("Config"), "api_version", []any{rig.APIVersion})
	setPattern(def("Config"), "rig_type", rig.RigTypePattern)
	setPattern(def("Component"), "id", rig.IDPattern)
	setPattern(def("Sensor"), "id", rig.IDPattern)
	setPattern(def("Target"), "name", rig.TargetPattern)
	setEnum(def("Component"), "type", anys(rig.ComponentTypes))
	setEnum(def("Connection"), "line", anys(rig.LineTypes))
	setEnum(def("Connection"), "direction", []any{string(rig.Forward), string(rig.Bidirectional)})
	setEnum(def("Sensor"), "kind", anys(rig.SensorKinds))
	setEnum(def("Sensor"), "port", anys(rig.Ports))
	setEnum(def("Target"), "kind", []any{string(rig.TargetCondition), string(rig.TargetFlag)})
	setEnum(def("Class"), "fault", anys(rig.Faults))
	setEnum(def("Equipment"), "circuit", []any{string(rig.CircuitOpen), string(rig.CircuitClosed)})
	if b := def("MQTTBinding"); b != nil {
		if p, ok := b.Properties.Get("codec"); ok {
			p.Pattern = "^(" + joinAlt(rig.Codecs) + "|plugin:[a-z][a-z0-9_-]{0,63})$"
		}
		if p, ok := b.Properties.Get("qos"); ok {
			p.Enum = []any{0, 1, 2}
		}
	}
	if d := def("Date"); d != nil {
		d.Format = "date"
	}
	for _, name := range []string{"Equipment", "Calibration", "LineState"} {
		if d := def(name); d != nil {
			for pair := d.Properties.Oldest(); pair != nil; pair = pair.Next() {
				if slices.Contains([]string{"last_maintenance", "next_maintenance", "date", "due"}, pair.Key) {
					pair.Value.Format = "date"
				}
			}
		}
	}
}

func anys[T ~string](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func joinAlt(xs []string) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += "|"
		}
		out += x
	}
	return out
}
