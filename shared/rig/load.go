package rig

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileSize caps the size of a firmware config file (1 MiB); a larger file
// is refused before it is parsed.
const MaxFileSize = 1 << 20

// Load reads, decodes and validates the firmware config at path. Unknown
// keys, wrong types and invalid values are reported as Errors, each naming
// the file, line, key path and bad value.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load firmware config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load firmware config %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a firmware config held in data; name is used
// in error messages (usually the file path).
func Parse(name string, data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, Errors{{File: name, Msg: "file is empty"}}
	}
	file, err := parseYAML(data)
	if err != nil {
		return nil, Errors{yamlError(name, nil, err)}
	}
	if len(file.Docs) != 1 {
		return nil, Errors{{File: name, Msg: fmt.Sprintf("want exactly one YAML document, found %d", len(file.Docs))}}
	}
	if file.Docs[0].Body == nil {
		return nil, Errors{{File: name, Msg: "file is empty"}}
	}
	idx := indexPositions(file)
	var cfg Config
	if err := decodeYAML(data, &cfg); err != nil {
		return nil, Errors{yamlError(name, idx, err)}
	}
	if err := cfg.validate(); err != nil {
		var es Errors
		if errors.As(err, &es) {
			for _, e := range es {
				e.File = name
				if p, ok := idx.lookup(e.Path); ok {
					e.Line, e.Column = p.Line, p.Column
				}
			}
			sortByPosition(es)
			return nil, es
		}
		return nil, err
	}
	return &cfg, nil
}

// parseYAML and decodeYAML guard against panics inside go-yaml on
// malformed input (found by FuzzParse): a broken file must give an error,
// never take the process down.
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

// Validate checks a Config built in code (Parse and Load call it for you).
// It returns Errors listing every problem, or nil.
func (c *Config) Validate() error { return c.validate() }

// Digest returns "sha256:<hex>" over the canonical JSON encoding of the
// config: comments, key order and formatting of the file do not change it,
// any change of content does. Model bundles record it to refuse a rig whose
// description differs from the one they were trained for.
func (c *Config) Digest() string {
	b, err := json.Marshal(c)
	if err != nil {
		// A Config holds only plain values; Marshal cannot fail.
		panic(fmt.Sprintf("rig: marshal config: %v", err))
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// positions maps key paths ("sensors[3].unit") to where they are in a file.
type positions map[string]*token.Position

func (p positions) lookup(path string) (*token.Position, bool) {
	if p == nil {
		return nil, false
	}
	// Walk up to the nearest ancestor present in the file (a missing key
	// is reported at its parent).
	for {
		if pos, ok := p[path]; ok {
			return pos, true
		}
		if path == "" {
			return nil, false
		}
		path = parentPath(path)
	}
}

// pathAt returns the path of the node starting at pos.
func (p positions) pathAt(pos *token.Position) (string, bool) {
	best := ""
	found := false
	for path, q := range p {
		if q.Line == pos.Line && q.Column == pos.Column {
			if !found || len(path) > len(best) {
				best, found = path, true
			}
		}
	}
	return best, found
}

func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

func indexPositions(f *ast.File) positions {
	idx := positions{}
	for _, d := range f.Docs {
		walkNode(idx, "", d.Body)
	}
	return idx
}

func walkNode(idx positions, path string, n ast.Node) {
	if n == nil {
		return
	}
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, mv := range n.Values {
			walkNode(idx, path, mv)
		}
	case *ast.MappingValueNode:
		key := strings.Trim(n.Key.String(), `"'`)
		p := key
		if path != "" {
			p = path + "." + key
		}
		tk := n.Key.GetToken()
		idx[p] = tk.Position
		// A value on the same node is found at the key's position too,
		// so that decode errors on it resolve to the same path.
		if vt := n.Value.GetToken(); vt != nil {
			if _, ok := idx[p+"="]; !ok {
				idx[p+"="] = vt.Position
			}
		}
		walkNode(idx, p, n.Value)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			p := fmt.Sprintf("%s[%d]", path, i)
			if tk := v.GetToken(); tk != nil {
				idx[p] = tk.Position
			}
			walkNode(idx, p, v)
		}
	case *ast.TagNode:
		walkNode(idx, path, n.Value)
	case *ast.AnchorNode:
		walkNode(idx, path, n.Value)
	}
}

// yamlError turns a decode error of go-yaml into a FieldError with the key
// path and a message in the project's words.
func yamlError(name string, idx positions, err error) *FieldError {
	fe := &FieldError{File: name}
	var ye yaml.Error
	if !errors.As(err, &ye) {
		fe.Msg = err.Error()
		return fe
	}
	tk := ye.GetToken()
	if tk != nil {
		fe.Line, fe.Column = tk.Position.Line, tk.Position.Column
		if path, ok := idx.pathAt(tk.Position); ok {
			fe.Path = strings.TrimSuffix(path, "=")
		}
	}
	var (
		unknown *yaml.UnknownFieldError
		typeErr *yaml.TypeError
		dup     *yaml.DuplicateKeyError
		ovf     *yaml.OverflowError
	)
	switch {
	case errors.As(err, &unknown):
		fe.Msg = fmt.Sprintf("unknown key %q (check the spelling against `rigctl schema rig`)", tokenValue(tk))
	case errors.As(err, &typeErr):
		fe.Msg = fmt.Sprintf("%s is not %s", quoteValue(tk), describeType(typeErr.DstType))
	case errors.As(err, &dup):
		fe.Msg = fmt.Sprintf("duplicate key %q", tokenValue(tk))
	case errors.As(err, &ovf):
		fe.Msg = fmt.Sprintf("%s is out of range for %s", ovf.SrcNum, describeType(ovf.DstType))
	default:
		fe.Msg = "YAML syntax: " + ye.GetMessage()
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

func describeType(t reflect.Type) string {
	if t == nil {
		return "of the expected type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return "a " + t.Kind().String()
}
