package confyaml

import (
	"fmt"
	"net"
	"reflect"
	"regexp"
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
	// ServiceLinks skips the variables Kubernetes injects into every pod
	// for each Service of its namespace (enableServiceLinks, on unless a
	// pod sets it false) when a Service's name starts like EnvPrefix: a
	// Service "rig-cloud" gives RIG_CLOUD_SERVICE_HOST,
	// RIG_CLOUD_SERVICE_PORT, RIG_CLOUD_SERVICE_PORT_<PORTNAME>,
	// RIG_CLOUD_PORT and RIG_CLOUD_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR].
	// With ServiceLinks set, a variable that names no key and has both the
	// name and the value of such a variable (ServiceLink) is skipped
	// instead of reported; a key's variable is always a key's (default
	// false: reported, as any unknown variable).
	ServiceLinks bool
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
// came from: a value set by a variable (or an item of a list it set,
// path[i]) is named "environment VAR";
// others get the file's name, line and column (Document.Locate). The
// problems are then sorted by position.
func (src *Source) Place(es []*FieldError) {
	for _, e := range es {
		// A list item's problem (tags[1]) is the variable's that set the
		// list (a comma-separated value).
		key, _, _ := strings.Cut(e.Path, "[")
		if v, ok := src.fromEnv[key]; ok {
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
		if !known && s.ServiceLinks && ServiceLink(name, val) {
			continue
		}
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

// serviceLinkName matches the names of the variables of a Kubernetes
// service link: <SERVICE>_SERVICE_HOST, <SERVICE>_SERVICE_PORT[_<NAME>],
// <SERVICE>_PORT and <SERVICE>_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR]. The
// lazy service name makes RIG_CLOUD_PORT_80_TCP_PORT the port of
// RIG_CLOUD_PORT_80_TCP, not the _PORT of a service RIG_CLOUD_PORT_80_TCP.
var serviceLinkName = regexp.MustCompile(`^[A-Z0-9_]+?_(SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(?:TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)

// ServiceLink reports whether the variable name=value is one Kubernetes
// sets for a Service (Spec.ServiceLinks): the name has one of the shapes
// and the value is what that shape holds (an IP address, a port number,
// tcp, udp or sctp, or a proto://ip:port address).
func ServiceLink(name, value string) bool {
	m := serviceLinkName.FindStringSubmatch(name)
	if m == nil {
		return false
	}
	kind, field := m[1], m[2]
	switch {
	case kind == "SERVICE_HOST" || field == "_ADDR":
		return net.ParseIP(value) != nil
	case strings.HasPrefix(kind, "SERVICE_PORT") || field == "_PORT":
		return isPort(value)
	case field == "_PROTO":
		return value == "tcp" || value == "udp" || value == "sctp"
	}
	// <SERVICE>_PORT and <SERVICE>_PORT_<N>_<PROTO>: proto://ip:port.
	proto, addr, ok := strings.Cut(value, "://")
	if !ok || (proto != "tcp" && proto != "udp" && proto != "sctp") {
		return false
	}
	host, port, err := net.SplitHostPort(addr)
	return err == nil && net.ParseIP(host) != nil && isPort(port)
}

// isPort reports whether s is a port number, 1..65535.
func isPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == s
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
