package httpapi

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// The rig-type registry: each organisation's firmware configs (shared/
// rig), by rig type and version. An operator uploads a config; it is
// parsed and validated as the agent does, and stored under its rig_type
// with its firmware-config digest (rig.Config.Digest, the config_digest
// of model bundles). Versions are immutable: the content of a stored
// version (the same digest) uploaded again answers that version (200);
// other content for a stored name becomes its next version (201), so
// that rigs and bundles bound to an older digest keep finding it; the
// answer's new says which. GET /v1/rig-types/{name}/versions lists a rig
// type's versions.
//
// Once an organisation has registered a rig type, POST /v1/rigs refuses a
// rig type it has not registered (422 unknown-rig-type); an organisation
// that registered none creates rigs of any type, as before the registry.

// Problem types of the rig-type registry.
const (
	// ProblemInvalidRigConfig (422): the firmware config does not parse
	// or validate; errors lists each problem, its pointer the key path
	// (e.g. /sensors/3/unit) and its detail the line and column.
	ProblemInvalidRigConfig = "urn:hydrognn:problem:invalid-rig-config"
	// ProblemUnknownRigType (422): POST /v1/rigs names a rig type the
	// organisation has not registered, while it has registered others.
	ProblemUnknownRigType = "urn:hydrognn:problem:unknown-rig-type"
)

// MediaYAML is the media type of a firmware config sent as the whole
// body (application/x-yaml and text/yaml are taken too).
const MediaYAML = "application/yaml"

func (a *API) rigTypeRoutes(v1 gin.IRoutes) {
	v1.GET("/rig-types", a.need(store.RoleViewer), a.listRigTypes)
	v1.GET("/rig-types/:name", a.need(store.RoleViewer), a.getRigType)
	v1.GET("/rig-types/:name/versions", a.need(store.RoleViewer), a.listRigTypeVersions)
	v1.POST("/rig-types", a.need(store.RoleOperator), a.putRigType)
	v1.POST("/rig-types/validate", a.need(store.RoleViewer), a.validateRigType)
	v1.DELETE("/rig-types/:name", a.need(store.RoleAdmin), a.deleteRigType)
}

// readRigConfig reads a firmware config: the body itself when it is YAML
// (MediaYAML), else a fleetapi.RigTypeRequest. It is parsed and validated
// with shared/rig; a config that fails is answered 422 with every problem.
func (a *API) readRigConfig(c *gin.Context) (*rig.Config, string, bool) {
	var text string
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	switch mt {
	case MediaYAML, "application/x-yaml", "text/yaml":
		// ReadBody takes JSON only; the YAML body is read with its checks
		// (size, gzip) under the JSON media type.
		r := c.Request.Clone(c.Request.Context())
		r.Header.Set("Content-Type", cloudapi.MediaJSON)
		body, err := cloudapi.ReadBody(r, min(a.opt.MaxBodyBytes, rig.MaxFileSize))
		if err != nil {
			a.fail(c, err)
			return nil, "", false
		}
		text = string(body)
	default:
		var req fleetapi.RigTypeRequest
		if !a.readJSON(c, &req) {
			return nil, "", false
		}
		text = req.Config
	}
	if p := unstorableText(text); p != nil {
		abort(c, p)
		return nil, "", false
	}
	cfg, err := rig.Parse("config", []byte(text))
	if err != nil {
		abort(c, rigConfigProblem(err))
		return nil, "", false
	}
	return cfg, text, true
}

// unstorableText answers a config PostgreSQL cannot store as text (a NUL
// byte or invalid UTF-8, which shared/rig accepts in a comment): 422
// invalid-rig-config naming the line and column of the first such byte,
// the same for new and already stored content; nil when text is
// storable.
func unstorableText(text string) *cloudapi.Problem {
	line, col := 1, 1
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		what := ""
		switch {
		case r == utf8.RuneError && n == 1:
			what = fmt.Sprintf("the byte 0x%02x is not UTF-8", text[i])
		case r == 0:
			what = "a NUL byte"
		}
		if what != "" {
			p := problem(ProblemInvalidRigConfig, 422, "the firmware config is not valid: config:%d:%d: %s: a firmware config is UTF-8 text without NUL bytes",
				line, col, what)
			p.Title = "Invalid firmware config"
			p.Errors = []cloudapi.FieldProblem{{Pointer: "", Detail: fmt.Sprintf("line %d, column %d: %s", line, col, what)}}
			return p
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return nil
}

// rigConfigProblem turns shared/rig's errors into a 422 problem: one
// entry per problem, the key path as a JSON pointer and the line, column
// and message as detail.
func rigConfigProblem(err error) *cloudapi.Problem {
	p := problem(ProblemInvalidRigConfig, 422, "the firmware config is not valid: %v", err)
	p.Title = "Invalid firmware config"
	var es rig.Errors
	if errors.As(err, &es) {
		if len(es) == 1 {
			p.Detail = "the firmware config is not valid: " + es[0].Error()
		} else {
			p.Detail = fmt.Sprintf("the firmware config has %d problems, the first: %s", len(es), es[0].Error())
		}
		for _, e := range es {
			d := e.Msg
			if e.Line > 0 {
				d = fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
			}
			p.Errors = append(p.Errors, cloudapi.FieldProblem{Pointer: keyPointer(e.Path), Detail: d})
		}
	}
	return p
}

// keyPointer turns a key path ("sensors[3].unit") into a JSON pointer
// into the config ("/sensors/3/unit"; "" for the document).
func keyPointer(path string) string {
	if path == "" {
		return ""
	}
	var b strings.Builder
	for _, part := range strings.Split(path, ".") {
		name, idx, _ := strings.Cut(part, "[")
		b.WriteString("/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(name))
		for idx != "" {
			var i string
			i, idx, _ = strings.Cut(idx, "]")
			b.WriteString("/" + i)
			idx = strings.TrimPrefix(idx, "[")
		}
	}
	return b.String()
}

func summarize(cfg *rig.Config) fleetapi.RigTypeSummary {
	return fleetapi.RigTypeSummary{Name: cfg.RigType, Digest: cfg.Digest(), TopologyVersion: cfg.TopologyVersion,
		Components: len(cfg.Components), Edges: len(cfg.Connections), Sensors: len(cfg.Sensors), Targets: len(cfg.Targets)}
}

func (a *API) validateRigType(c *gin.Context) {
	cfg, _, ok := a.readRigConfig(c)
	if !ok {
		return
	}
	c.JSON(200, summarize(cfg))
}

func (a *API) putRigType(c *gin.Context) {
	cfg, text, ok := a.readRigConfig(c)
	if !ok {
		return
	}
	p := principal(c)
	t, created, err := a.st.PutRigType(c.Request.Context(), p.OrgID, summarize(cfg), text, p.TokenID)
	if err != nil {
		a.fail(c, err)
		return
	}
	code := 200
	if created {
		code = 201
	}
	c.JSON(code, fleetapi.RigTypeUpload{RigType: *t, New: created})
}

// rigTypeVersion reads ?version= (1..math.MaxInt32: the database's
// integer); 0 when it is absent and not required.
func rigTypeVersion(c *gin.Context, required bool) (int32, bool) {
	s := c.Query("version")
	if s == "" {
		if required {
			badParam(c, "the query parameter version is required (the version to delete)")
			return 0, false
		}
		return 0, true
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 1 {
		badParam(c, "the query parameter version %q is not an integer in [1, %d]", s, math.MaxInt32)
		return 0, false
	}
	return int32(n), true
}

func (a *API) getRigType(c *gin.Context) {
	version, ok := rigTypeVersion(c, false)
	if !ok {
		return
	}
	t, err := a.st.RigType(c.Request.Context(), principal(c).OrgID, c.Param("name"), version)
	a.reply(c, 200, t, err)
}

func (a *API) deleteRigType(c *gin.Context) {
	version, ok := rigTypeVersion(c, true)
	if !ok {
		return
	}
	if err := a.st.DeleteRigType(c.Request.Context(), principal(c).OrgID, c.Param("name"), version); err != nil {
		a.fail(c, err)
		return
	}
	c.Status(204)
}

func (a *API) listRigTypes(c *gin.Context) {
	limit, ok := pageSize(c)
	if !ok {
		return
	}
	ts, err := a.st.RigTypes(c.Request.Context(), principal(c).OrgID, c.Query("cursor"), limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, ts, limit, func(t fleetapi.RigType) string { return t.Name })
}

// listRigTypeVersions lists every version of one rig type, oldest first;
// the cursor is the version the page starts after.
func (a *API) listRigTypeVersions(c *gin.Context) {
	limit, after, ok := idPage(c)
	if !ok {
		return
	}
	if after > math.MaxInt32 {
		// Versions are the database's integer: a larger cursor is none
		// this server made (and would not encode as one).
		badParam(c, "cursor %q is not one this server made (versions are at most %d)", c.Query("cursor"), math.MaxInt32)
		return
	}
	ts, err := a.st.RigTypeVersions(c.Request.Context(), principal(c).OrgID, c.Param("name"), after, limit)
	if err != nil {
		a.fail(c, err)
		return
	}
	page(c, ts, limit, func(t fleetapi.RigType) string { return strconv.Itoa(t.Version) })
}

// rigTypeKnown answers 422 and returns false when the caller's
// organisation has registered rig types and rigType is not one of them
// (store.RigTypeKnown).
func (a *API) rigTypeKnown(c *gin.Context, rigType string) bool {
	ok, names, more, err := a.st.RigTypeKnown(c.Request.Context(), principal(c).OrgID, rigType)
	if err != nil {
		a.fail(c, err)
		return false
	}
	if !ok {
		etc := ""
		if more {
			etc = ", ..."
		}
		p := problem(ProblemUnknownRigType, 422, "rig_type %q is not a rig type of your organisation's registry (%s%s): register it first (rigctl rig-types upload FILE)",
			rigType, strings.Join(names, ", "), etc)
		p.Title = "Unknown rig type"
		abort(c, p)
		return false
	}
	return true
}
