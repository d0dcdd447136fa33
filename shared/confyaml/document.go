package confyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize caps a config file (1 MiB): ReadFile reads at most one byte
// more, and Spec.Decode refuses a larger one before parsing it.
const MaxFileSize = 1 << 20

// ReadFile reads the config file at path, at most MaxFileSize+1 bytes (so
// that the caller can refuse a larger file). Its errors start with
// "load <what>", e.g. "load rig-agent config".
func ReadFile(path, what string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load %s %s: %w", what, path, err)
	}
	return data, nil
}

// Document is a parsed YAML file with the position of every key path in
// it. Key paths join mapping keys with '.' and index sequences with
// "[i]": "broker.tls.ca_file", "sensors[3].unit". A nil *Document holds
// nothing: its lookups find nothing.
type Document struct {
	data []byte
	file *ast.File // nil for blank data
	pos  positions
}

// Parse parses data, which may hold any number of YAML documents (Docs
// says how many). Data that is blank (only white space) is not parsed and
// gives a Document without any. The error is go-yaml's (a yaml.Error with
// its position), or says that go-yaml panicked; Error words it.
func Parse(data []byte) (*Document, error) {
	d := &Document{data: data, pos: positions{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return d, nil
	}
	f, err := parseYAML(data)
	if err != nil {
		return nil, err
	}
	d.file = f
	for _, doc := range f.Docs {
		d.pos.walk("", doc.Body)
	}
	return d, nil
}

// parseYAML and decodeYAML turn panics of go-yaml on malformed input into
// errors (found by the fuzz targets): a broken file must give an error,
// never take the process down.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("YAML could not be parsed (%v)", r)
		}
	}()
	return parser.ParseBytes(data, 0)
}

func decodeYAML(data []byte, v any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("YAML could not be decoded (%v)", r)
		}
	}()
	return yaml.UnmarshalWithOptions(data, v, yaml.DisallowUnknownField(), yaml.Strict())
}

// Docs returns the number of YAML documents in the file.
func (d *Document) Docs() int {
	if d == nil || d.file == nil {
		return 0
	}
	return len(d.file.Docs)
}

// Empty reports whether the file holds no value: no document, or a first
// document without a body (only comments).
func (d *Document) Empty() bool {
	return d.Docs() == 0 || d.file.Docs[0].Body == nil
}

// mappingOrNull reports whether the first document's body, through tags
// and anchors, is a mapping or null.
func (d *Document) mappingOrNull() bool {
	n := d.file.Docs[0].Body
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			n = t.Value
		case *ast.AnchorNode:
			n = t.Value
		case *ast.MappingNode, *ast.NullNode:
			return true
		default:
			return false
		}
	}
}

// Alias returns where the first anchor or alias of the file is (ok false
// if there is none). Expanding nested aliases costs time and memory
// exponential in the file size: files that may come from anywhere refuse
// them.
func (d *Document) Alias() (line, col int, ok bool) {
	if d.Docs() == 0 {
		return 0, 0, false
	}
	var found *token.Token
	for _, doc := range d.file.Docs {
		ast.Walk(visitFunc(func(n ast.Node) bool {
			if found != nil {
				return false
			}
			switch n.(type) {
			case *ast.AliasNode, *ast.AnchorNode:
				found = n.GetToken()
				return false
			}
			return true
		}), doc)
	}
	if found == nil || found.Position == nil {
		return 0, 0, found != nil
	}
	return found.Position.Line, found.Position.Column, true
}

type visitFunc func(ast.Node) bool

func (v visitFunc) Visit(n ast.Node) ast.Visitor {
	if n == nil || !v(n) {
		return nil
	}
	return v
}

// Decode decodes the file strictly into v, a pointer: an unknown key, a
// duplicate key or a value of the wrong type fails. Fields the file does
// not set keep their value (the defaults). The error is go-yaml's, or an
// error of a value type's UnmarshalYAML (ByteSize), or says that go-yaml
// panicked; Error words it.
func (d *Document) Decode(v any) error {
	if d == nil {
		return nil
	}
	return decodeYAML(d.data, v)
}

// Error turns an error of Parse or Decode into a FieldError with the file
// name, line, column and key path of the bad token, and a message in the
// project's words. unknownKey is the advice added to an unknown key's
// message, e.g. "see docs/agent.md for the keys of each section". Error
// may be called on a nil *Document (for Parse's errors): the path is left
// empty.
func (d *Document) Error(name string, err error, unknownKey string) *FieldError {
	fe := &FieldError{File: name}
	var tokErr interface{ GetToken() *token.Token }
	if !errors.As(err, &tokErr) {
		fe.Msg = err.Error()
		return fe
	}
	tk := tokErr.GetToken()
	if tk != nil && tk.Position != nil {
		fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
		fe.Path, _ = d.PathAt(fe.Line, fe.Column)
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
		fe.Msg = fmt.Sprintf("unknown key %q (%s)", tokenValue(tk), unknownKey)
	case errors.As(err, &typeErr):
		fe.Msg = fmt.Sprintf("%s is not %s", quoteValue(tk), describeType(typeErr.DstType))
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

func quoteValue(tk *token.Token) string {
	if tk == nil {
		return "value"
	}
	return strconv.Quote(tk.Value)
}

var durationType = reflect.TypeFor[time.Duration]()

// describeType names what a value of Go type t looks like in YAML.
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
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		return "a list"
	case t.Kind() == reflect.Map || t.Kind() == reflect.Struct:
		return "a mapping"
	}
	return "a " + t.Kind().String()
}

// Lookup returns where path is in the file, or its nearest ancestor that
// is (a missing key is reported at its section); ok is false when
// neither is.
func (d *Document) Lookup(path string) (line, col int, ok bool) {
	if d == nil {
		return 0, 0, false
	}
	for {
		if p, found := d.pos[path]; found {
			return p.Line, p.Column, true
		}
		if path == "" {
			return 0, 0, false
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			path = ""
		} else {
			path = path[:i]
		}
	}
}

// Has reports whether the file sets path itself.
func (d *Document) Has(path string) bool {
	if d == nil {
		return false
	}
	_, ok := d.pos[path]
	return ok
}

// PathAt returns the longest key path whose key or value starts at
// line:col (ok false if none does).
func (d *Document) PathAt(line, col int) (path string, ok bool) {
	if d == nil {
		return "", false
	}
	for p, q := range d.pos {
		if q.Line == line && q.Column == col && (!ok || len(p) > len(path) || len(p) == len(path) && p < path) {
			path, ok = p, true
		}
	}
	return strings.TrimSuffix(path, "="), ok
}

// Locate sets the line and column of each problem to where its key path
// (or its nearest ancestor) is in the file; a problem whose path is not
// there keeps its own.
func (d *Document) Locate(es []*FieldError) {
	for _, e := range es {
		if line, col, ok := d.Lookup(e.Path); ok {
			e.Line, e.Column = line, col
		}
	}
}

// Place names the file of each problem, locates it (Locate) and sorts the
// problems by position.
func (d *Document) Place(name string, es []*FieldError) {
	for _, e := range es {
		e.File = name
	}
	d.Locate(es)
	SortByPosition(es)
}

// positions maps key paths to where their key starts in the file; a
// value is also indexed under its key's path plus "=", so that an error at
// the value resolves to the same path.
type positions map[string]token.Position

func (idx positions) walk(path string, n ast.Node) {
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			idx.walk(path, mv)
		}
	case *ast.MappingValueNode:
		p := strings.Trim(n.Key.String(), `"'`)
		if path != "" {
			p = path + "." + p
		}
		if tk := n.Key.GetToken(); tk != nil && tk.Position != nil {
			idx[p] = *tk.Position
		}
		if n.Value == nil {
			return
		}
		if vt := n.Value.GetToken(); vt != nil && vt.Position != nil {
			if _, ok := idx[p+"="]; !ok {
				idx[p+"="] = *vt.Position
			}
		}
		idx.walk(p, n.Value)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			if v == nil {
				continue
			}
			p := fmt.Sprintf("%s[%d]", path, i)
			if tk := v.GetToken(); tk != nil && tk.Position != nil {
				idx[p] = *tk.Position
			}
			idx.walk(p, v)
		}
	case *ast.TagNode:
		idx.walk(path, n.Value)
	case *ast.AnchorNode:
		idx.walk(path, n.Value)
	}
}
