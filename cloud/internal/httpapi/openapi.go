package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"
	"github.com/invopop/jsonschema"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// The OpenAPI document (GET /openapi.json) is built from Operations: one
// per registered route, with its request and success-response bodies given
// as example values of their Go types. The schemas are reflected from
// those types (the same ones the handlers encode and decode, shared/
// cloudapi's for the agent API), so each schema has one definition; the
// examples are type-checked by the compiler, validated against the schemas
// and sent to a running server by the tests (openapi_test.go), which also
// fail when a route is registered but not documented or the reverse.

// Auth is what credential an operation takes.
type Auth int

// Credentials of operations.
const (
	// AuthNone: no credential (health, metrics, this document).
	AuthNone Auth = iota
	// AuthToken: an API token of an organisation with at least
	// Operation.Role.
	AuthToken
	// AuthSystem: a system token.
	AuthSystem
	// AuthSystemOrToken: a system token, or an organisation's API token
	// with at least Operation.Role, for its own organisation.
	AuthSystemOrToken
	// AuthAgent: an agent credential (rga_...).
	AuthAgent
	// AuthEnrollment: a one-time enrollment token (rge_...).
	AuthEnrollment
	// AuthRelease: a release token (deployment-level, role release).
	AuthRelease
	// AuthRepository: an agent credential, or an API token other than a
	// system token (the TUF repository's files).
	AuthRepository
)

// Param is a query or path parameter.
type Param struct {
	Name, In, Description string
	// Type is "string" (default), "integer" or "date-time".
	Type string
	// Max bounds an integer (0: none).
	Max      int
	Enum     []string
	Required bool
}

// Example is an operation's example exchange, sent by the tests to a
// running server in Operations order.
type Example struct {
	// Path is the concrete path with its query (default: the operation's
	// path, which then has no parameters).
	Path string
	// Status is the answer's status (default: Operation.Status).
	Status int
}

// Operation documents one route.
type Operation struct {
	// Method and Path are the route as registered in Gin (":name" path
	// parameters).
	Method, Path string
	ID, Tag      string
	Summary      string
	Description  string
	Auth         Auth
	// Role is the least role of an organisation's token on AuthToken
	// and AuthSystemOrToken operations (auth_test.go's refusal table
	// checks that it is the role enforced: each role below it gets 403,
	// a token of it gets past authorisation on every method).
	Role string
	// Params are the query parameters and descriptions of path ones
	// (path parameters not listed are documented as strings).
	Params []Param
	// Body is an example request body; its Go type gives the schema (nil:
	// no body). BodyOptional: the body may be left out (an empty one is
	// the type's zero value).
	Body         any
	BodyOptional bool
	// Status is the success status; Response an example of its body, whose
	// Go type gives the schema (nil: no body), in MediaType (default
	// application/json; a text type has a string schema).
	Status    int
	Response  any
	MediaType string
	// Also are other success statuses with the same body as Status, each
	// with its description (e.g. 200 for content already stored where
	// Status is 201).
	Also map[int]string
	// Errors are the documented problem statuses beyond those implied by
	// Auth, Body and Params (every operation also has a default problem
	// response).
	Errors []int
	// Example is the exchange the tests run.
	Example Example
}

// Health is the body of /health/live and /health/ready.
type Health struct {
	Status string `json:"status"`
	// SchemaVersion is the newest applied migration (ready only).
	SchemaVersion int `json:"schema_version,omitempty"`
}

var (
	openapiOnce sync.Once
	openapiDoc  []byte
	openapiErr  error
)

// OpenAPI returns the OpenAPI 3.0 document of the operations, as JSON.
func OpenAPI() ([]byte, error) {
	openapiOnce.Do(func() { openapiDoc, openapiErr = buildOpenAPI(Operations()) })
	return openapiDoc, openapiErr
}

func (a *API) openapi(c *gin.Context) {
	doc, err := OpenAPI()
	if err != nil {
		a.fail(c, err)
		return
	}
	c.Data(200, "application/json", doc)
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_][A-Za-z0-9_]*)`)

// OpenAPIPath turns a Gin route path into an OpenAPI one (":rig" ->
// "{rig}").
func OpenAPIPath(p string) string { return ginParam.ReplaceAllString(p, "{$1}") }

type docBuilder struct {
	r       *jsonschema.Reflector
	schemas map[string]any
	err     error
}

func newDocBuilder() *docBuilder {
	b := &docBuilder{schemas: map[string]any{}}
	b.r = &jsonschema.Reflector{
		AllowAdditionalProperties: false,
		Namer: func(t reflect.Type) string {
			// fleetapi.Page[github.com/.../store.Org] -> PageOfOrg
			n := t.Name()
			if i := strings.IndexByte(n, '['); i >= 0 {
				inner := strings.TrimSuffix(n[i+1:], "]")
				inner = inner[strings.LastIndexAny(inner, "./")+1:]
				n = n[:i] + "Of" + inner
			}
			return n
		},
	}
	return b
}

// schema reflects v's type and returns its schema (a $ref for named
// structs), adding definitions to the components.
func (b *docBuilder) schema(v any) any {
	s := b.r.Reflect(v)
	raw, err := json.Marshal(s)
	if err != nil {
		b.fail(fmt.Errorf("schema of %T: %w", v, err))
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		b.fail(fmt.Errorf("schema of %T: %w", v, err))
		return nil
	}
	delete(m, "$schema")
	delete(m, "$id")
	if defs, ok := m["$defs"].(map[string]any); ok {
		delete(m, "$defs")
		for name, d := range defs {
			d = rewriteRefs(d)
			if old, ok := b.schemas[name]; ok && !reflect.DeepEqual(old, d) {
				b.fail(fmt.Errorf("two Go types are named %s: rename one for the OpenAPI document", name))
			}
			b.schemas[name] = d
		}
	}
	return rewriteRefs(m)
}

func (b *docBuilder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// rewriteRefs makes JSON Schema 2020-12 OpenAPI 3.0: "#/$defs/X" refs
// point at "#/components/schemas/X", and the boolean schema true (any
// value: json.RawMessage) becomes {}.
func rewriteRefs(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "$ref" {
				x[k] = strings.Replace(s, "#/$defs/", "#/components/schemas/", 1)
				continue
			}
			if k == "properties" {
				if props, ok := e.(map[string]any); ok {
					for name, p := range props {
						if p == true {
							props[name] = map[string]any{"description": "any JSON value"}
						}
					}
				}
			}
			if k == "items" && e == true {
				x[k] = map[string]any{}
				continue
			}
			x[k] = rewriteRefs(e)
		}
	case []any:
		for i, e := range x {
			x[i] = rewriteRefs(e)
		}
	}
	return v
}

var problemNotes = map[int]string{
	400: "the body or a parameter is invalid (the problem says which, quoting the value)",
	401: "no credential, or an unknown, revoked or expired one",
	403: "this credential may not do this (role too low, wrong kind of credential, another agent's body)",
	404: "no such object in the caller's organisation (another organisation's objects answer 404 too)",
	405: "the route has no such method",
	409: "the object exists, or its state does not allow this",
	413: "the body is larger than the server's limit",
	415: "the body is not application/json",
	429: "rate limited (too many requests, or too many failed authentications from the client's address): retry after Retry-After seconds",
	500: "internal error",
	503: "unavailable or too slow: retry after Retry-After seconds",
}

func problemResponse(status int) map[string]any {
	d := problemNotes[status]
	if d == "" {
		d = http.StatusText(status)
	}
	return map[string]any{
		"description": d,
		"content": map[string]any{cloudapi.MediaProblem: map[string]any{
			"schema": map[string]any{"$ref": "#/components/schemas/Problem"},
		}},
	}
}

var securityNames = map[Auth][]string{
	AuthToken:         {"token"},
	AuthSystem:        {"token"},
	AuthSystemOrToken: {"token"},
	AuthAgent:         {"agent"},
	AuthEnrollment:    {"enrollment"},
	AuthRelease:       {"token"},
	AuthRepository:    {"agent", "token"},
}

func buildOpenAPI(ops []Operation) ([]byte, error) {
	b := newDocBuilder()
	b.schema(&cloudapi.Problem{})
	paths := map[string]map[string]any{}
	for _, op := range ops {
		p := OpenAPIPath(op.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		m := strings.ToLower(op.Method)
		if _, dup := paths[p][m]; dup {
			return nil, fmt.Errorf("operation %s %s is listed twice", op.Method, op.Path)
		}
		paths[p][m] = b.operation(op)
	}
	if b.err != nil {
		return nil, b.err
	}
	bearer := func(format, desc string) map[string]any {
		return map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": format, "description": desc}
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "rig-cloud",
			"version": cloudapi.Version,
			"description": "The fleet API of hydrognn (docs/cloud.md) and the agent API (docs/agent-cloud-api.md). " +
				"Every error is an RFC 9457 problem document (application/problem+json). " +
				"Responses may gain fields within v1: clients ignore fields they do not know.",
		},
		"servers": []any{map[string]any{"url": "/"}},
		"tags": []any{
			map[string]any{"name": "health", "description": "liveness, readiness, metrics, this document"},
			map[string]any{"name": "agent", "description": "the agent API (shared/cloudapi)"},
			map[string]any{"name": "organisations", "description": "organisations and API tokens"},
			map[string]any{"name": "fleet", "description": "sites, rigs, agents, diagnoses, alerts"},
			map[string]any{"name": "releases", "description": "the TUF repository of signed model releases (docs/releases.md)"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": b.schemas,
			"securitySchemes": map[string]any{
				"token":      bearer("rgt_...", "An API token: a system token, a release token, or an organisation's with role viewer, operator or admin."),
				"agent":      bearer("rga_...", "An agent credential, issued at enrollment."),
				"enrollment": bearer("rge_...", "A one-time enrollment token for one rig."),
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

func (b *docBuilder) operation(op Operation) map[string]any {
	o := map[string]any{
		"operationId": op.ID,
		"summary":     op.Summary,
		"tags":        []string{op.Tag},
	}
	desc := op.Description
	switch op.Auth {
	case AuthToken:
		desc = strings.TrimSpace(desc + "\n\nNeeds an organisation's API token with role " + op.Role + " or above.")
	case AuthSystem:
		desc = strings.TrimSpace(desc + "\n\nNeeds a system token.")
	case AuthSystemOrToken:
		desc = strings.TrimSpace(desc + "\n\nNeeds a system token, or an API token of the organisation with role " + op.Role + " or above.")
	case AuthRelease:
		desc = strings.TrimSpace(desc + "\n\nNeeds a release token (rig-cloud token create --release).")
	case AuthRepository:
		desc = strings.TrimSpace(desc + "\n\nNeeds an agent credential or an API token (any role but system).")
	}
	if desc != "" {
		o["description"] = desc
	}
	if names, ok := securityNames[op.Auth]; ok {
		var sec []any
		for _, n := range names {
			sec = append(sec, map[string]any{n: []string{}})
		}
		o["security"] = sec
	} else {
		o["security"] = []any{}
	}

	errs := slices.Clone(op.Errors)
	var params []any
	declared := map[string]Param{}
	for _, p := range op.Params {
		declared[p.In+":"+p.Name] = p
	}
	for _, m := range ginParam.FindAllStringSubmatch(op.Path, -1) {
		p, ok := declared["path:"+m[1]]
		if !ok {
			p = Param{Name: m[1], In: "path"}
		}
		p.Required = true
		params = append(params, paramDoc(p))
		errs = append(errs, 404)
		if p.Type == "integer" {
			// idParam: not a positive integer.
			errs = append(errs, 400)
		}
	}
	for _, p := range op.Params {
		if p.In == "query" {
			params = append(params, paramDoc(p))
			errs = append(errs, 400)
		}
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if op.Body != nil {
		o["requestBody"] = map[string]any{
			"required": !op.BodyOptional,
			"content": map[string]any{"application/json": map[string]any{
				"schema":  b.schema(op.Body),
				"example": op.Body,
			}},
		}
		errs = append(errs, 400, 413, 415)
	}
	if op.Auth != AuthNone {
		errs = append(errs, 401, 429)
		if op.Auth != AuthEnrollment {
			errs = append(errs, 403)
		}
	}

	resp := map[string]any{"description": http.StatusText(op.Status)}
	if op.Response != nil {
		mt := op.MediaType
		if mt == "" {
			mt = "application/json"
		}
		var schema any
		if strings.HasPrefix(mt, "text/") {
			schema = map[string]any{"type": "string"}
		} else {
			schema = b.schema(op.Response)
		}
		resp["content"] = map[string]any{mt: map[string]any{"schema": schema, "example": op.Response}}
	}
	responses := map[string]any{fmt.Sprint(op.Status): resp, "default": problemResponse(500)}
	for status, d := range op.Also {
		also := maps.Clone(resp)
		also["description"] = d
		responses[fmt.Sprint(status)] = also
	}
	slices.Sort(errs)
	for _, s := range slices.Compact(errs) {
		if s != op.Status {
			responses[fmt.Sprint(s)] = problemResponse(s)
		}
	}
	o["responses"] = responses
	return o
}

func paramDoc(p Param) map[string]any {
	s := map[string]any{"type": "string"}
	switch p.Type {
	case "integer":
		s = map[string]any{"type": "integer", "format": "int64", "minimum": 1}
		if p.Max > 0 {
			s["maximum"] = p.Max
		}
	case "date-time":
		s = map[string]any{"type": "string", "format": "date-time"}
	}
	if len(p.Enum) > 0 {
		s["enum"] = p.Enum
	}
	d := map[string]any{"name": p.Name, "in": p.In, "schema": s, "required": p.Required}
	if p.Description != "" {
		d["description"] = p.Description
	}
	return d
}
