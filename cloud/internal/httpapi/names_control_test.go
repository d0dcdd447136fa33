package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Names, a site's location and a rig type holding a control character (a
// tab, a line break, C0 or C1) are 400 naming the field: they would break
// rigctl's tables and log lines. Other Unicode text is kept.
func TestNamesRefuseControlCharacters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a := e.tenant("alpha")
	for _, tc := range []struct {
		name, path, token string
		body              any
		field             string
	}{
		{"site name", "/v1/sites", a.operator, fleetapi.SiteRequest{Name: "a\tb\nc"}, "name"},
		{"site location", "/v1/sites", a.operator, fleetapi.SiteRequest{Name: "s", Location: "hall 3\r\nrow 2"}, "location"},
		{"rig type", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "x3", RigType: "t\n\x01"}, "rig_type"},
		{"C1 in rig type", "/v1/rigs", a.operator, fleetapi.RigRequest{RigID: "x4", RigType: "t\u0085"}, "rig_type"},
		{"token name", fmt.Sprintf("/v1/orgs/%d/tokens", a.orgID), a.admin, fleetapi.TokenRequest{Name: "ci\x1b[31m", Role: "viewer"}, "name"},
		{"org name", "/v1/orgs", e.system, fleetapi.OrgRequest{Slug: "gamma", Name: "G\x00amma"}, "name"},
	} {
		r := e.do("POST", tc.path, tc.token, tc.body)
		require.Equal(t, 400, r.code, "%s: %s", tc.name, r.body)
		p := r.problem(t)
		assert.Contains(t, p.Detail, tc.field+" holds a control character", tc.name)
	}
	r := e.do("POST", "/v1/sites", a.operator, fleetapi.SiteRequest{Name: "Düsseldorf – Halle 3", Location: "Höhe 2 · Reihe 4"})
	require.Equal(t, 201, r.code, "%s", r.body)
}
