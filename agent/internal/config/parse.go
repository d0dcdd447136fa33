package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/hydrognn/hydrognn/shared/rig"
)

// MaxFileSize caps the config file (1 MiB).
const MaxFileSize = 1 << 20

// EnvPrefix starts every environment override: RIG_AGENT_<SECTION>_<KEY>,
// the key path in upper case with '.' replaced by '_' (for example
// broker.tls.ca_file is RIG_AGENT_BROKER_TLS_CA_FILE). Keys lists them.
const EnvPrefix = "RIG_AGENT_"

// FieldError is one problem in the config: file, line and column, key
// path, and what is wrong with the value. It is the firmware config's
// error type (shared/rig), so both read alike:
//
//	rig-agent.yaml:12:14: broker.qos: 0 is not 1 or 2 (...)
//
// A problem in an environment override names the variable as its File.
type FieldError = rig.FieldError

// Errors is every problem found in one config, in file order.
type Errors []*FieldError

// ErrInvalid is matched by errors.Is on every config error of Parse, Load
// and Validate.
var ErrInvalid = errors.New("invalid rig-agent config")

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the individual problems.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// hostname is os.Hostname, replaced in tests.
var hostname = os.Hostname

// Load reads the config file at path, applies the environment's
// overrides (os.Environ), fills defaults, validates, resolves relative
// paths against the file's directory, then loads and validates the rig's
// firmware config (Config.Firmware) and checks that every file and
// directory the config names exists. Errors name file, line, key path and
// value; errors.Is(err, ErrInvalid) holds for all of them, and
// errors.Is(err, rig.ErrInvalid) too when the firmware config is bad.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load rig-agent config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load rig-agent config %s: %w", path, err)
	}
	cfg, err := Parse(path, data, os.Environ())
	if err != nil {
		return nil, err
	}
	if err := cfg.loadFiles(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse decodes data (the file name is used in errors and to resolve
// relative paths), applies the overrides found in env ("KEY=value"
// entries as os.Environ returns them; nil for none), fills defaults and
// validates. It reads no file: Load does that on top.
func Parse(name string, data []byte, env []string) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	cfg := Defaults()
	cfg.File = name
	var idx positions
	if len(bytes.TrimSpace(data)) > 0 {
		file, err := parseYAML(data)
		if err != nil {
			return nil, Errors{yamlError(name, nil, err)}
		}
		if len(file.Docs) > 1 {
			return nil, Errors{{File: name, Msg: fmt.Sprintf("want one YAML document, found %d", len(file.Docs))}}
		}
		idx = indexPositions(file)
		if len(file.Docs) == 1 && file.Docs[0].Body != nil {
			if _, ok := bodyOf(file.Docs[0].Body).(*ast.MappingNode); !ok {
				if _, isNull := bodyOf(file.Docs[0].Body).(*ast.NullNode); !isNull {
					return nil, Errors{{File: name, Line: 1, Column: 1, Msg: "the config must be a mapping of sections (agent, rig, model, broker, ...)"}}
				}
			}
			if err := decodeYAML(data, &cfg); err != nil {
				return nil, Errors{yamlError(name, idx, err)}
			}
		}
	}
	fromEnv, err := applyEnv(&cfg, env)
	if err != nil {
		return nil, err
	}
	cfg.derive(filepath.Dir(name))
	if err := cfg.Validate(); err != nil {
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				if v, ok := fromEnv[e.Path]; ok {
					e.File = "environment " + v
					continue
				}
				e.File = name
				if p, ok := idx.lookup(e.Path); ok {
					e.Line, e.Column = p.Line, p.Column
				}
			}
			sortByPosition(es)
		}
		return nil, err
	}
	return &cfg, nil
}

func bodyOf(n ast.Node) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			n = t.Value
		case *ast.AnchorNode:
			n = t.Value
		case *ast.CommentGroupNode:
			return nil
		default:
			return n
		}
	}
}

// derive fills the defaults that depend on other fields and resolves
// relative paths against dir (the config file's directory).
func (c *Config) derive(dir string) {
	if c.Agent.ID == "" {
		if h, err := hostname(); err == nil {
			c.Agent.ID = sanitizeID(h)
		}
	}
	if c.Broker.ClientID == "" && idPattern.MatchString(c.Agent.ID) {
		c.Broker.ClientID = "rig-agent-" + c.Agent.ID
	}
	if c.Broker.Embedded {
		c.Broker.URL = "tcp://" + c.Broker.Listen
	}
	if c.Diagnoses.Topic == "" && idPattern.MatchString(c.Agent.ID) {
		c.Diagnoses.Topic = "hydrognn/agents/" + c.Agent.ID + "/diagnoses"
	}
	for _, p := range []*string{&c.Agent.DataDir, &c.Agent.PluginDir, &c.Diagnoses.Path, &c.Rig.FirmwareConfig, &c.Model.BundleDir, &c.Model.OnnxRuntimeLib, &c.Model.TensorRTCacheDir,
		&c.Broker.PasswordFile, &c.Broker.TLS.CAFile, &c.Broker.TLS.CertFile, &c.Broker.TLS.KeyFile,
		&c.Buffer.Path, &c.Cloud.CredentialFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Buffer.Path == "" && c.Agent.DataDir != "" {
		c.Buffer.Path = filepath.Join(c.Agent.DataDir, "buffer.db")
	}
	if c.Diagnoses.Path == "" && c.Agent.DataDir != "" {
		c.Diagnoses.Path = filepath.Join(c.Agent.DataDir, "diagnoses.db")
	}
	if c.Model.TensorRTCacheDir == "" && c.Agent.DataDir != "" {
		c.Model.TensorRTCacheDir = filepath.Join(c.Agent.DataDir, "tensorrt")
	}
}

// sanitizeID turns a host name into a valid agent id.
func sanitizeID(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "_.-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// loadFiles loads the firmware config and checks the named files exist.
func (c *Config) loadFiles() error {
	var es Errors
	at := func(path, format string, args ...any) {
		fe := &FieldError{File: c.File, Path: path, Msg: fmt.Sprintf(format, args...)}
		es = append(es, fe)
	}
	fw, fwErr := rig.Load(c.Rig.FirmwareConfig)
	if fwErr != nil {
		at("rig.firmware_config", "firmware config %q cannot be used:", c.Rig.FirmwareConfig)
	}
	type want struct {
		path, file string
		dir        bool
	}
	for _, w := range []want{
		{"model.bundle_dir", c.Model.BundleDir, true},
		{"agent.plugin_dir", c.Agent.PluginDir, true},
		{"model.onnxruntime_lib", c.Model.OnnxRuntimeLib, false},
		{"broker.password_file", c.Broker.PasswordFile, false},
		{"broker.tls.ca_file", c.Broker.TLS.CAFile, false},
		{"broker.tls.cert_file", c.Broker.TLS.CertFile, false},
		{"broker.tls.key_file", c.Broker.TLS.KeyFile, false},
		{"cloud.credential_file", c.Cloud.CredentialFile, false},
	} {
		if w.file == "" {
			continue
		}
		fi, err := os.Stat(w.file)
		switch {
		case err != nil:
			at(w.path, "%q: %v", w.file, errors.Unwrap(err))
		case w.dir && !fi.IsDir():
			at(w.path, "%q is not a directory", w.file)
		case !w.dir && fi.IsDir():
			at(w.path, "%q is a directory, want a file", w.file)
		}
	}
	if len(es) > 0 {
		data, _ := os.ReadFile(c.File)
		idx := positions{}
		if f, err := parseYAML(data); err == nil {
			idx = indexPositions(f)
		}
		for _, e := range es {
			if p, ok := idx.lookup(e.Path); ok {
				e.Line, e.Column = p.Line, p.Column
			}
		}
		if fwErr != nil {
			return fmt.Errorf("%w\n%w", es, fwErr)
		}
		return es
	}
	c.Firmware = fw
	return nil
}

// parseYAML and decodeYAML turn panics of go-yaml on malformed input
// into errors (as shared/rig does; found by its fuzz target).
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML could not be parsed (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

func decodeYAML(data []byte, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML could not be decoded (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, cfg, yaml.DisallowUnknownField(), yaml.Strict())
}

// positions maps key paths ("broker.tls.ca_file", "model.providers[1]") to
// where they are in the file.
type positions map[string]*token.Position

// lookup finds path, or its nearest ancestor present in the file (a
// missing key is reported at its section).
func (p positions) lookup(path string) (*token.Position, bool) {
	for p != nil {
		if pos, ok := p[path]; ok {
			return pos, true
		}
		if path == "" {
			return nil, false
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
	return nil, false
}

// pathAt returns the longest path whose key or value starts at pos.
func (p positions) pathAt(pos *token.Position) (string, bool) {
	best, found := "", false
	for path, q := range p {
		if q.Line == pos.Line && q.Column == pos.Column && (!found || len(path) > len(best)) {
			best, found = path, true
		}
	}
	return strings.TrimSuffix(best, "="), found
}

func indexPositions(f *ast.File) positions {
	idx := positions{}
	var walk func(path string, n ast.Node)
	walk = func(path string, n ast.Node) {
		switch n := n.(type) {
		case *ast.MappingNode:
			for _, mv := range n.Values {
				walk(path, mv)
			}
		case *ast.MappingValueNode:
			p := strings.Trim(n.Key.String(), `"'`)
			if path != "" {
				p = path + "." + p
			}
			idx[p] = n.Key.GetToken().Position
			if vt := n.Value.GetToken(); vt != nil {
				if _, ok := idx[p+"="]; !ok {
					idx[p+"="] = vt.Position
				}
			}
			walk(p, n.Value)
		case *ast.SequenceNode:
			for i, v := range n.Values {
				p := fmt.Sprintf("%s[%d]", path, i)
				if tk := v.GetToken(); tk != nil {
					idx[p] = tk.Position
				}
				walk(p, v)
			}
		case *ast.TagNode:
			walk(path, n.Value)
		case *ast.AnchorNode:
			walk(path, n.Value)
		}
	}
	for _, d := range f.Docs {
		if d.Body != nil {
			walk("", d.Body)
		}
	}
	return idx
}

// yamlError turns a decoding error into a FieldError with position, key
// path and a message in the project's words.
func yamlError(name string, idx positions, err error) *FieldError {
	fe := &FieldError{File: name}
	var tokErr interface{ GetToken() *token.Token }
	if !errors.As(err, &tokErr) {
		fe.Msg = err.Error()
		return fe
	}
	tk := tokErr.GetToken()
	if tk != nil {
		fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
		if path, ok := idx.pathAt(tk.Position); ok {
			fe.Path = path
		}
	}
	var (
		unknown *yaml.UnknownFieldError
		typeErr *yaml.TypeError
		dup     *yaml.DuplicateKeyError
		ovf     *yaml.OverflowError
		pe      *posError
		ye      yaml.Error
	)
	switch {
	case errors.As(err, &pe):
		fe.Msg = pe.msg
	case errors.As(err, &unknown):
		fe.Msg = fmt.Sprintf("unknown key %q (see docs/agent.md for the keys of each section)", tokenValue(tk))
	case errors.As(err, &typeErr):
		fe.Msg = fmt.Sprintf("%q is not %s", tokenValue(tk), describeType(typeErr.DstType))
	case errors.As(err, &dup):
		fe.Msg = fmt.Sprintf("duplicate key %q", tokenValue(tk))
	case errors.As(err, &ovf):
		fe.Msg = fmt.Sprintf("%s is out of range for %s", ovf.SrcNum, describeType(ovf.DstType))
	case errors.As(err, &ye):
		fe.Msg = "YAML syntax: " + ye.GetMessage()
	default:
		fe.Msg = err.Error()
	}
	return fe
}

func tokenValue(tk *token.Token) string {
	if tk == nil {
		return ""
	}
	return tk.Value
}

var durationType = reflect.TypeFor[time.Duration]()

func describeType(t reflect.Type) string {
	if t == nil {
		return "of the expected type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration (e.g. 500ms, 30s, 5m, 720h)"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "an integer"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping"
	}
	return "a " + t.Kind().String()
}

func sortByPosition(es Errors) {
	slices.SortStableFunc(es, func(a, b *FieldError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

// Key is one configuration key.
type Key struct {
	// Path is the YAML key path, e.g. "broker.tls.ca_file".
	Path string
	// Env is the environment variable that overrides it.
	Env string
	// Type is the Go type's name (string, int, bool, float64,
	// time.Duration, config.ByteSize, config.Secret, []string).
	Type string
}

// Keys lists every configuration key in declaration order, with its
// environment variable.
func Keys() []Key {
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
			out = append(out, Key{Path: p, Env: envName(p), Type: f.Type.String()})
		}
	}
	walk("", reflect.TypeFor[Config]())
	return out
}

func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_").Replace(path))
}

// fieldByPath returns the settable field of cfg at a key path.
func fieldByPath(cfg *Config, path string) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(path, ".") {
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

// applyEnv applies the RIG_AGENT_* entries of env to cfg. An entry that
// names no key is an error (a typo would otherwise be ignored silently).
// It returns the key paths set, mapped to their variables.
func applyEnv(cfg *Config, env []string) (map[string]string, error) {
	byEnv := map[string]Key{}
	for _, k := range Keys() {
		byEnv[k.Env] = k
	}
	set := map[string]string{}
	var es Errors
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		k, known := byEnv[name]
		if !known {
			es = append(es, &FieldError{File: "environment " + name, Msg: "no config key has this variable (see docs/agent.md for the list)"})
			continue
		}
		if err := setFromString(fieldByPath(cfg, k.Path), val); err != nil {
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

// setFromString sets v from an environment value.
func setFromString(v reflect.Value, s string) error {
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
