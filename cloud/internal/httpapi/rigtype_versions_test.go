package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// rigTypeYAML is fleetRigYAML as rig type name at topology version topo.
func rigTypeYAML(name string, topo int) string {
	s := strings.Replace(fleetRigYAML, "rig_type: zema-testrig", "rig_type: "+name, 1)
	return strings.Replace(s, `topology_version: "1"`, fmt.Sprintf(`topology_version: "%d"`, topo), 1)
}

func (e *env) putRigType(tn *tenant, yaml string, want int) fleetapi.RigType {
	e.t.Helper()
	r := e.do("POST", "/v1/rig-types", tn.operator, fleetapi.RigTypeRequest{Config: yaml})
	require.Equal(e.t, want, r.code, "%s", r.body)
	var t fleetapi.RigType
	if want < 300 {
		r.decode(e.t, &t)
	}
	return t
}

// ?version= past the database's integer (int4) is 400 invalid-parameter
// naming the parameter, not 500 (review r2 finding 1), on GET and DELETE.
func TestRigTypeVersionOutOfRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	e.registerRigType(a)
	for _, v := range []string{"3000000000", "2147483648", "99999999999999999999", "-1", "0", "1.5", "x"} {
		for _, m := range []string{"GET", "DELETE"} {
			r := e.do(m, "/v1/rig-types/zema-testrig?version="+v, a.admin, nil)
			require.Equal(t, 400, r.code, "%s version=%s: %s", m, v, r.body)
			assert.Equal(t, cloudapi.MediaProblem, r.header.Get("Content-Type"))
			p := r.problem(t)
			assert.Equal(t, httpapi.ProblemInvalidParameter, p.Type)
			assert.Contains(t, p.Detail, "version "+fmt.Sprintf("%q", v))
			assert.Contains(t, p.Detail, "[1, 2147483647]")
		}
	}
	r := e.do("GET", "/v1/rig-types/zema-testrig?version=2147483647", a.viewer, nil)
	assert.Equal(t, 404, r.code, "%s", r.body)
	r = e.do("DELETE", "/v1/rig-types/zema-testrig?version=2147483647", a.admin, nil)
	assert.Equal(t, 404, r.code, "%s", r.body)
	r = e.do("DELETE", "/v1/rig-types/zema-testrig", a.admin, nil)
	require.Equal(t, 400, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "version is required")
}

// The organisation's rig-type versions are capped by
// quotas.max_rig_type_versions, all names together: past it a new
// version is 409 quota-exceeded naming the key and the way out, counted
// on /metrics; content already stored still answers its version; a
// deleted version makes room (review r2 finding 2).
func TestRigTypeVersionsQuota(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	e.st.SetQuotas(store.Quotas{MaxRigTypeVersions: 2})
	a, b := e.tenant("alpha"), e.tenant("beta")
	e.putRigType(a, rigTypeYAML("type-a", 1), 201)
	e.putRigType(a, rigTypeYAML("type-b", 1), 201)
	r := e.do("POST", "/v1/rig-types", a.operator, fleetapi.RigTypeRequest{Config: rigTypeYAML("type-a", 2)})
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemQuotaExceeded, p.Type)
	assert.Equal(t, "the organisation has 2 rig-type versions, the most quotas.max_rig_type_versions allows is 2: "+
		"delete versions no longer needed (DELETE /v1/rig-types/{name}?version=N, rigctl rig-types delete NAME --version N, an admin's token)", p.Detail)
	assert.Contains(t, e.metrics(), `rig_cloud_quota_refusals_total{quota="quotas.max_rig_type_versions"} 1`)
	assert.Equal(t, 1, e.putRigType(a, rigTypeYAML("type-a", 1), 200).Version, "stored content at the cap")
	e.putRigType(b, rigTypeYAML("type-a", 2), 201)

	// An operator may not delete; an admin may.
	r = e.do("DELETE", "/v1/rig-types/type-b?version=1", a.operator, nil)
	require.Equal(t, 403, r.code, "%s", r.body)
	r = e.do("DELETE", "/v1/rig-types/type-b?version=1", a.admin, nil)
	require.Equal(t, 204, r.code, "%s", r.body)
	assert.Equal(t, 2, e.putRigType(a, rigTypeYAML("type-a", 2), 201).Version)
}

// What may be deleted: any version but the latest while older ones
// remain (its number would be reused), and the only version of a rig type
// no rig uses; a rig type's last version gone, a new upload is version 1.
func TestDeleteRigType(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")
	for v := 1; v <= 3; v++ {
		e.putRigType(a, rigTypeYAML("zema-testrig", v), 201) // a's rig uses zema-testrig
	}
	del := func(name string, v int) resp {
		t.Helper()
		return e.do("DELETE", fmt.Sprintf("/v1/rig-types/%s?version=%d", name, v), a.admin, nil)
	}
	r := del("zema-testrig", 3)
	require.Equal(t, 409, r.code, "%s", r.body)
	p := r.problem(t)
	assert.Equal(t, httpapi.ProblemStateConflict, p.Type)
	assert.Contains(t, p.Detail, "delete rig type zema-testrig version 3: it is the latest version and 2 older ones remain: a new upload would be numbered 3 again")
	r = e.do("DELETE", "/v1/rig-types/zema-testrig?version=1", b.admin, nil)
	assert.Equal(t, 404, r.code, "another organisation's: %s", r.body)
	require.Equal(t, 204, del("zema-testrig", 2).code)
	assert.Equal(t, 404, del("zema-testrig", 2).code, "already deleted")
	require.Equal(t, 204, del("zema-testrig", 1).code)
	r = del("zema-testrig", 3)
	require.Equal(t, 409, r.code, "%s", r.body)
	assert.Contains(t, r.problem(t).Detail, "delete rig type zema-testrig version 3: it is the rig type's only version and 1 rigs use the rig type")
	r = e.do("GET", "/v1/rig-types/zema-testrig", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	// A new upload after a gap continues the numbering.
	assert.Equal(t, 4, e.putRigType(a, rigTypeYAML("zema-testrig", 4), 201).Version)

	// A rig type no rig uses may go entirely; it then starts again at 1.
	e.putRigType(a, rigTypeYAML("spare-rig", 1), 201)
	require.Equal(t, 204, del("spare-rig", 1).code)
	assert.Equal(t, 404, e.do("GET", "/v1/rig-types/spare-rig", a.viewer, nil).code)
	assert.Equal(t, 1, e.putRigType(a, rigTypeYAML("spare-rig", 2), 201).Version)
}

// A firmware config with a NUL byte or invalid UTF-8 (shared/rig takes
// them in a comment, PostgreSQL does not) is 422 invalid-rig-config
// naming the line and column, before the database, for new and for
// already stored content alike (review r2 finding 4).
func TestRigTypeUnstorableBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	e.registerRigType(a)
	for _, cfg := range []string{fleetRigYAML, rigTypeYAML("zema-testrig", 9)} {
		for _, c := range []struct{ body, what string }{
			{"# bad \xff byte\n" + cfg, "line 1, column 7: the byte 0xff is not UTF-8"},
			{"# nul \x00 byte\n" + cfg, "line 1, column 7: a NUL byte"},
			{cfg + "# at the end \x00\n", "a NUL byte"},
		} {
			for _, path := range []string{"/v1/rig-types", "/v1/rig-types/validate"} {
				r := e.raw("POST", path, a.operator, "application/yaml", []byte(c.body))
				require.Equal(t, 422, r.code, "%s: %s", path, r.body)
				p := r.problem(t)
				assert.Equal(t, httpapi.ProblemInvalidRigConfig, p.Type)
				require.Len(t, p.Errors, 1)
				assert.Contains(t, p.Errors[0].Detail, c.what)
			}
		}
		// JSON can carry a NUL (\u0000); invalid UTF-8 it replaces.
		r := e.do("POST", "/v1/rig-types", a.operator, fleetapi.RigTypeRequest{Config: "# nul \x00\n" + cfg})
		require.Equal(t, 422, r.code, "%s", r.body)
		assert.Contains(t, r.problem(t).Detail, "config:1:7: a NUL byte")
	}
	r := e.do("GET", "/v1/rig-types", a.viewer, nil)
	var page fleetapi.Page[fleetapi.RigType]
	r.decode(t, &page)
	require.Len(t, page.Items, 1)
	assert.Equal(t, 1, page.Items[0].Version, "nothing new stored")
}

// The 422 of an unknown rig type lists the registered names, with ", ..."
// only when there are more than it shows (review r2 nit 6a: it was added
// at exactly 20).
func TestUnknownRigTypeListsNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	for i := range store.MaxRigTypeNamesShown {
		e.putRigType(a, rigTypeYAML(fmt.Sprintf("type-%02d", i), 1), 201)
	}
	r := e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "r2", RigType: "other-type"})
	require.Equal(t, 422, r.code, "%s", r.body)
	d := r.problem(t).Detail
	assert.Contains(t, d, "(type-00, type-01,")
	assert.Contains(t, d, "type-19): register it first", "exactly 20: no ellipsis")
	e.putRigType(a, rigTypeYAML("type-20", 1), 201)
	r = e.do("POST", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "r2", RigType: "other-type"})
	require.Equal(t, 422, r.code, "%s", r.body)
	d = r.problem(t).Detail
	assert.Contains(t, d, "type-19, ...): register it first", "21: the first 20 and an ellipsis")
	assert.NotContains(t, d, "type-20")
}

// GET /v1/rig-types/{name}/versions lists every version of one rig type,
// oldest first, without configs, in cursor pages (the cursor is the
// version a page starts after); a deleted version is not listed; a rig
// type the organisation has no version of, another organisation's
// included, is 404; a viewer may list.
func TestRigTypeVersionsList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")
	for topo := 1; topo <= 3; topo++ {
		v := e.putRigType(a, rigTypeYAML("press", topo), 201)
		require.Equal(t, topo, v.Version)
	}
	e.putRigType(a, rigTypeYAML("other", 1), 201)
	r := e.do("DELETE", "/v1/rig-types/press?version=1", a.admin, nil)
	require.Equal(t, 204, r.code, "%s", r.body)
	e.putRigType(a, rigTypeYAML("press", 4), 201)

	var versions []int
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		path := "/v1/rig-types/press/versions?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.do("GET", path, a.viewer, nil)
		require.Equal(t, 200, r.code, "%s", r.body)
		assert.NotContains(t, string(r.body), `"new"`, "new is on the upload's answer only")
		var p fleetapi.Page[fleetapi.RigType]
		r.decode(t, &p)
		for _, v := range p.Items {
			assert.Equal(t, "press", v.Name)
			assert.Empty(t, v.Config)
			assert.NotEmpty(t, v.Digest)
			versions = append(versions, v.Version)
		}
		if p.NextCursor == "" {
			break
		}
		cursor = p.NextCursor
	}
	assert.Equal(t, []int{2, 3, 4}, versions)

	for _, c := range []struct {
		path string
		tok  string
		want int
	}{
		{"/v1/rig-types/nope/versions", a.viewer, 404},
		{"/v1/rig-types/press/versions", b.viewer, 404},
		{"/v1/rig-types/press/versions?cursor=x", a.viewer, 400},
		{"/v1/rig-types/press/versions?cursor=2147483647", a.viewer, 200},
		{"/v1/rig-types/press/versions?cursor=2147483648", a.viewer, 400},
		{"/v1/rig-types/press/versions?cursor=9223372036854775807", a.viewer, 400},
		{"/v1/rig-types/press/versions?limit=0", a.viewer, 400},
	} {
		r := e.do("GET", c.path, c.tok, nil)
		assert.Equal(t, c.want, r.code, "%s: %s", c.path, r.body)
		if c.want == 400 && strings.Contains(c.path, "cursor=") {
			assert.Equal(t, "application/problem+json", r.header.Get("Content-Type"), c.path)
			assert.Contains(t, string(r.body), "cursor", "%s: the problem names the cursor", c.path)
		}
	}
	// Past the last version: an empty page, not 404.
	r = e.do("GET", "/v1/rig-types/press/versions?cursor=4", a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	assert.JSONEq(t, `{"items":[]}`, string(r.body))
}
