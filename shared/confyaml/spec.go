package confyaml

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Spec describes one kind of config file: the environment variables that
// override its keys and the words of its messages. The config is a struct
// whose fields carry `yaml:"name"` tags; nested structs are sections.
type Spec struct {
	// EnvPrefix starts every environment override: the variable of a key
	// is EnvPrefix followed by the key path in upper case with '.'
	// replaced by '_' (with "RIG_AGENT_", broker.tls.ca_file is
	// RIG_AGENT_BROKER_TLS_CA_FILE). "" reads no variable.
	EnvPrefix string
	// UnknownKey is the advice added to an unknown key's message, e.g.
	// "see docs/agent.md for the keys of each section".
	UnknownKey string
	// UnknownEnv is the advice added when a variable with EnvPrefix names
	// no key, e.g. "see docs/agent.md for the list".
	UnknownEnv string
	// OtherEnv lists variables that start with EnvPrefix but are no
	// config key, read by the program itself (e.g.
	// RIG_AGENT_ENROLLMENT_TOKEN): Decode skips them instead of
	// reporting them as unknown (default: none). One must not be a key's
	// variable.
	OtherEnv []string
	// NotMapping is the message when the document is not a mapping, e.g.
	// "the config must be a mapping of sections (server, database, ...)".
	NotMapping string
}

// Source is where the values of a decoded config came from: the file's
// positions and the variables that set keys. Place uses it.
type Source struct {
	name    string
	doc     *Document
	fromEnv map[string]string // key path -> variable
}

// Decode decodes data, the content of the file name, onto cfg (a pointer
// to the config struct, holding the defaults), then applies the
// variables of env that start with EnvPrefix ("KEY=value" entries as
// os.Environ returns them; nil for none). Blank data (or a null document)
// leaves the defaults. It returns the problems found, or nil: data larger
// than MaxFileSize, a syntax error, more than one document, a document
// that is not a mapping or does not decode (the first such error), or
// else every variable that names no key or holds a bad value.
func (s *Spec) Decode(name string, data []byte, env []string, cfg any) (*Source, []*FieldError) {
	if len(data) > MaxFileSize {
		return nil, []*FieldError{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	doc, err := Parse(data)
	if err != nil {
		return nil, []*FieldError{doc.Error(name, err, s.UnknownKey)}
	}
	if doc.Docs() > 1 {
		return nil, []*FieldError{{File: name, Msg: fmt.Sprintf("want one YAML document, found %d", doc.Docs())}}
	}
	if !doc.Empty() {
		if !doc.mappingOrNull() {
			return nil, []*FieldError{{File: name, Line: 1, Column: 1, Msg: s.NotMapping}}
		}
		if err := doc.Decode(cfg); err != nil {
			return nil, []*FieldError{doc.Error(name, err, s.UnknownKey)}
		}
	}
	fromEnv, es := s.applyEnv(cfg, env)
	if es != nil {
		return nil, es
	}
	return &Source{name: name, doc: doc, fromEnv: fromEnv}, nil
}

// Place puts each problem found validating the config where its value
// came from: a value set by a variable is named "environment VAR";
// others get the file's name, line and column (Document.Locate). The
// problems are then sorted by position.
func (src *Source) Place(es []*FieldError) {
	for _, e := range es {
		if v, ok := src.fromEnv[e.Path]; ok {
			e.File = "environment " + v
			continue
		}
		e.File = src.name
		if line, col, ok := src.doc.Lookup(e.Path); ok {
			e.Line, e.Column = line, col
		}
	}
	SortByPosition(es)
}

// Key is one configuration key.
type Key struct {
	// Path is the YAML key path, e.g. "broker.tls.ca_file".
	Path string
	// Env is the environment variable that overrides it.
	Env string
	// Type is the Go type's name (string, int, *bool, float64, []string,
	// time.Duration, confyaml.ByteSize, confyaml.Secret).
	Type string
}

// Keys lists every key of the config struct type t in declaration
// order, with its environment variable. A struct field (other than a
// time.Duration) is a section, listed by its keys.
func (s *Spec) Keys(t reflect.Type) []Key {
	var out []Key
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			p := tag
			if prefix != "" {
				p = prefix + "." + tag
			}
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(p, f.Type)
				continue
			}
			out = append(out, Key{Path: p, Env: s.EnvName(p), Type: f.Type.String()})
		}
	}
	walk("", t)
	return out
}

// EnvName returns the environment variable of a key path.
func (s *Spec) EnvName(path string) string {
	return s.EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// FieldByPath returns the settable field of cfg (a pointer to a struct)
// at a key path, or the zero Value when no field has that path.
func FieldByPath(cfg any, path string) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}
		}
		t := v.Type()
		found := false
		for i := range t.NumField() {
			if strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0] == part {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}
		}
	}
	return v
}

// applyEnv applies the EnvPrefix entries of env to cfg. An entry that
// names no key is an error (a typo would otherwise be ignored silently).
// It returns the key paths set, mapped to their variables.
func (s *Spec) applyEnv(cfg any, env []string) (map[string]string, []*FieldError) {
	set := map[string]string{}
	if s.EnvPrefix == "" {
		return set, nil
	}
	byEnv := map[string]Key{}
	for _, k := range s.Keys(reflect.TypeOf(cfg).Elem()) {
		byEnv[k.Env] = k
	}
	var es []*FieldError
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, s.EnvPrefix) || slices.Contains(s.OtherEnv, name) {
			continue
		}
		k, known := byEnv[name]
		if !known {
			es = append(es, &FieldError{File: "environment " + name, Msg: "no config key has this variable (" + s.UnknownEnv + ")"})
			continue
		}
		if err := setFromString(FieldByPath(cfg, k.Path), val); err != nil {
			es = append(es, &FieldError{File: "environment " + name, Path: k.Path, Msg: err.Error()})
			continue
		}
		set[k.Path] = name
	}
	if len(es) > 0 {
		return nil, es
	}
	return set, nil
}

// setFromString sets v from an environment value: the file's syntax for
// durations and byte sizes, a comma-separated list for []string, the
// string itself for strings.
func setFromString(v reflect.Value, s string) error {
	if v.Kind() == reflect.Pointer {
		p := reflect.New(v.Type().Elem())
		if err := setFromString(p.Elem(), s); err != nil {
			return err
		}
		v.Set(p)
		return nil
	}
	switch v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 500ms, 30s, 5m, 720h)", s)
		}
		v.SetInt(int64(d))
		return nil
	case ByteSize:
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(b))
		return nil
	case []string:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		v.SetInt(n)
	case reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		v.SetFloat(x)
	default:
		return fmt.Errorf("cannot be set from the environment (%s)", v.Type())
	}
	return nil
}
