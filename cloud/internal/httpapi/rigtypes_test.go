package httpapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rig"
)

// registerRigType uploads fleetRigYAML (the tenants' rig type) for tn.
func (e *env) registerRigType(tn *tenant) fleetapi.RigTypeUpload {
	e.t.Helper()
	r := e.do("POST", "/v1/rig-types", tn.operator, fleetapi.RigTypeRequest{Config: fleetRigYAML})
	require.Contains(e.t, []int{200, 201}, r.code, "%s", r.body)
	var t fleetapi.RigTypeUpload
	r.decode(e.t, &t)
	return t
}

// The registry: upload (JSON or YAML body), idempotent re-upload, a new
// version for new content, list and get, validation without storing, and
// another organisation sees none of it.
func TestRigTypeRegistry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")
	cfg, err := rig.Parse("fleet", []byte(fleetRigYAML))
	require.NoError(t, err)

	// validate stores nothing.
	r := e.do("POST", "/v1/rig-types/validate", a.viewer, fleetapi.RigTypeRequest{Config: fleetRigYAML})
	require.Equal(t, 200, r.code, "%s", r.body)
	var sum fleetapi.RigTypeSummary
	r.decode(t, &sum)
	assert.Equal(t, fleetapi.RigTypeSummary{Name: "zema-testrig", Digest: cfg.Digest(), TopologyVersion: "1",
		Components: 2, Edges: 2, Sensors: 2, Targets: 1}, sum)
	r = e.do("GET", "/v1/rig-types", a.viewer, nil)
	require.Equal(t, 200, r.code)
	assert.JSONEq(t, `{"items":[]}`, string(r.body))

	// A viewer may not upload.
	r = e.do("POST", "/v1/rig-types", a.viewer, fleetapi.RigTypeRequest{Config: fleetRigYAML})
	require.Equal(t, 403, r.code, "%s", r.body)

	v1 := e.registerRigType(a)
	assert.Equal(t, 1, v1.Version)
	assert.Equal(t, cfg.Digest(), v1.Digest, "the digest is the firmware-config digest bundles are bound to")
	assert.Empty(t, v1.Config)
	require.NotNil(t, v1.CreatedBy)

	// The same content again, as YAML with a comment: the same version.
	r = e.raw("POST", "/v1/rig-types", a.operator, "application/yaml", []byte("# the same rig\n"+fleetRigYAML))
	require.Equal(t, 200, r.code, "%s", r.body)
	var again fleetapi.RigTypeUpload
	r.decode(t, &again)
	assert.True(t, v1.New, "stored by this upload")
	assert.False(t, again.New, "already stored")
	assert.Equal(t, v1.RigType, again.RigType)

	// New content: version 2.
	changed := strings.Replace(fleetRigYAML, `topology_version: "1"`, `topology_version: "2"`, 1)
	r = e.raw("POST", "/v1/rig-types", a.operator, "application/yaml", []byte(changed))
	require.Equal(t, 201, r.code, "%s", r.body)
	var v2 fleetapi.RigTypeUpload
	r.decode(t, &v2)
	assert.Equal(t, 2, v2.Version)
	assert.True(t, v2.New)
	assert.NotEqual(t, v1.Digest, v2.Digest)

	// The list has the latest version; get has the config.
	var page fleetapi.Page[fleetapi.RigType]
	r = e.do("GET", "/v1/rig-types", a.viewer, nil)
	require.Equal(t, 200, r.code)
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	assert.Equal(t, 2, page.Items[0].Version)
	var got fleetapi.RigType
	r = e.do("GET", "/v1/rig-types/zema-testrig", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &got)
	assert.Equal(t, 2, got.Version)
	assert.Equal(t, changed, got.Config)
	r = e.do("GET", "/v1/rig-types/zema-testrig?version=1", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &got)
	assert.Equal(t, fleetRigYAML, got.Config)
	r = e.do("GET", "/v1/rig-types/zema-testrig?version=3", a.viewer, nil)
	assert.Equal(t, 404, r.code)
	r = e.do("GET", "/v1/rig-types/zema-testrig?version=0", a.viewer, nil)
	assert.Equal(t, 400, r.code)

	// Another organisation: 404 and an empty list.
	r = e.do("GET", "/v1/rig-types/zema-testrig", b.admin, nil)
	assert.Equal(t, 404, r.code)
	r.problem(t)
	r = e.do("GET", "/v1/rig-types", b.viewer, nil)
	require.Equal(t, 200, r.code)
	assert.JSONEq(t, `{"items":[]}`, string(r.body))
	// b's own upload of the same content is b's version 1.
	assert.Equal(t, 1, e.registerRigType(b).Version)
}

// An invalid config is 422 naming each problem's key path and line, for
// upload and validate, and nothing is stored.
func TestRigTypeInvalidConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	bad := strings.Replace(fleetRigYAML, "unit: C,", "unit: psi,", 1)
	for _, path := range []string{"/v1/rig-types", "/v1/rig-types/validate"} {
		r := e.raw("POST", path, a.operator, "application/yaml", []byte(bad))
		require.Equal(t, 422, r.code, "%s", r.body)
		assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
		p := r.problem(t)
		assert.Equal(t, httpapi.ProblemInvalidRigConfig, p.Type)
		require.Len(t, p.Errors, 1, "%s", r.body)
		assert.Equal(t, "/sensors/1/unit", p.Errors[0].Pointer)
		assert.Contains(t, p.Errors[0].Detail, "line 14, column 34")
		assert.Contains(t, p.Errors[0].Detail, `"psi"`)
		assert.Contains(t, p.Detail, "config:14:34: sensors[1].unit")
	}
	for _, c := range []struct{ body, want string }{
		{"", "empty"},
		{"rig_type: [", "config:1"},
		{"api_version: hydrognn/v1\nbogus: 1\n", "bogus"},
	} {
		r := e.do("POST", "/v1/rig-types", a.operator, fleetapi.RigTypeRequest{Config: c.body})
		require.Equal(t, 422, r.code, "%q: %s", c.body, r.body)
		assert.Contains(t, r.problem(t).Detail, c.want)
	}
	// Not YAML nor JSON: 415.
	r := e.raw("POST", "/v1/rig-types", a.operator, "text/plain", []byte(fleetRigYAML))
	assert.Equal(t, 415, r.code)
	// Larger than a firmware config may be: 413.
	r = e.raw("POST", "/v1/rig-types", a.operator, "application/yaml", []byte(strings.Repeat("#", rig.MaxFileSize+1)))
	assert.Equal(t, 413, r.code)
	r = e.do("GET", "/v1/rig-types", a.viewer, nil)
	assert.JSONEq(t, `{"items":[]}`, string(r.body))
}

// Creating a rig: any type while the organisation has registered none
// (as before the registry); once it has, only registered ones, an
// unknown one being 422 naming them.
func TestCreateRigChecksRegisteredTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")
	r := e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "r1", RigType: "anything-goes"})
	require.Equal(t, 201, r.code, "%s", r.body)

	e.registerRigType(a)
	r = e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "r2", RigType: "other-type"})
	require.Equal(t, 422, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemUnknownRigType, p.Type)
	assert.Contains(t, p.Detail, `"other-type"`)
	assert.Contains(t, p.Detail, "zema-testrig")
	r = e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "r2", RigType: "zema-testrig"})
	require.Equal(t, 201, r.code, "%s", r.body)

	// b registered nothing: unaffected by a's registry.
	r = e.do("POST", "/v1/rigs", b.operator, fleetapi.RigRequest{RigID: "r3", RigType: "other-type"})
	require.Equal(t, 201, r.code, "%s", r.body)
}
