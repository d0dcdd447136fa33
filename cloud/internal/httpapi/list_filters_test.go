package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/httpapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// GET /v1/rigs?site=&rig_type= and GET /v1/alerts?rig=&severity= filter,
// together and with state, page by page with next_cursor; a site or rig
// of another organisation lists nothing (200, not an error); malformed
// values are 400 problems naming the parameter.
func TestListFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, httpapi.Options{})
	a, b := e.tenant("alpha"), e.tenant("beta")
	site := func(tn *tenant, name string) int64 {
		r := e.do("POST", "/v1/sites", tn.admin, fleetapi.SiteRequest{Name: name})
		require.Equal(t, 201, r.code, "%s", r.body)
		var s fleetapi.Site
		r.decode(t, &s)
		return s.ID
	}
	s1, s2, sb := site(a, "s1"), site(a, "s2"), site(b, "sb")
	rig := func(tn *tenant, name, typ string, site int64) {
		req := fleetapi.RigRequest{RigID: name, RigType: typ}
		if site != 0 {
			req.SiteID = &site
		}
		r := e.do("POST", "/v1/rigs", tn.operator, req)
		require.Equal(t, 201, r.code, "%s", r.body)
	}
	rig(a, "r1", "x", s1)
	rig(a, "r2", "y", s1)
	rig(a, "r3", "x", s2)
	rig(a, "r5", "x", s1)
	rig(b, "r1", "x", sb)

	// pages follows next_cursor from path, limit 1 a page.
	pages := func(tn *tenant, path string, key func(json map[string]any) string) []string {
		t.Helper()
		var out []string
		cursor := ""
		for range 20 {
			p := path + "&limit=1"
			if cursor != "" {
				p += "&cursor=" + url.QueryEscape(cursor)
			}
			r := e.do("GET", p, tn.viewer, nil)
			require.Equal(t, 200, r.code, "%s: %s", p, r.body)
			var pg fleetapi.Page[map[string]any]
			r.decode(t, &pg)
			for _, it := range pg.Items {
				out = append(out, key(it))
			}
			if cursor = pg.NextCursor; cursor == "" {
				return out
			}
		}
		t.Fatalf("%s: more than 20 pages", path)
		return nil
	}
	rigName := func(m map[string]any) string { return m["rig_id"].(string) }
	for path, want := range map[string][]string{
		"/v1/rigs?x=1":                                 {"press-alpha", "r1", "r2", "r3", "r5"},
		fmt.Sprintf("/v1/rigs?site=%d", s1):            {"r1", "r2", "r5"},
		"/v1/rigs?rig_type=x":                          {"r1", "r3", "r5"},
		fmt.Sprintf("/v1/rigs?site=%d&rig_type=x", s1): {"r1", "r5"},
		fmt.Sprintf("/v1/rigs?site=%d&rig_type=y", s2): nil,
		fmt.Sprintf("/v1/rigs?site=%d", sb):            nil, // beta's site
		"/v1/rigs?site=9000000000000000000":            nil,
	} {
		assert.Equal(t, want, pages(a, path, rigName), path)
	}
	assert.Equal(t, []string{"r1"}, pages(b, fmt.Sprintf("/v1/rigs?site=%d", sb), rigName))

	// Alerts of a's rigs, and one of b's r1.
	ctx := context.Background()
	insert := func(tn *tenant, rig, sev, state string, n int) {
		_, err := e.st.Pool().Exec(ctx, `INSERT INTO alerts (org_id, rig_id, component, fault, severity, state, opened_at, last_seen_at, agent_id, seq)
			SELECT $1, id, $3, 'leakage', $4, $5, $6, $6, 1, $7 FROM rigs WHERE org_id = $1 AND name = $2`,
			tn.orgID, rig, fmt.Sprintf("c%d", n), sev, state, t0.Add(time.Duration(n)*time.Minute), n)
		require.NoError(t, err)
	}
	insert(a, "r1", "high", "open", 1)
	insert(a, "r2", "low", "open", 2)
	insert(a, "r1", "low", "resolved", 3)
	insert(a, "r1", "high", "open", 4)
	insert(a, "r3", "critical", "open", 5)
	insert(a, "r1", "high", "open", 6)
	insert(b, "r1", "high", "open", 7)
	alertKey := func(m map[string]any) string { return m["rig_id"].(string) + "/" + m["component"].(string) }
	for path, want := range map[string][]string{
		"/v1/alerts?rig=r1":                            {"r1/c1", "r1/c3", "r1/c4", "r1/c6"},
		"/v1/alerts?severity=high":                     {"r1/c1", "r1/c4", "r1/c6"},
		"/v1/alerts?rig=r1&severity=high":              {"r1/c1", "r1/c4", "r1/c6"},
		"/v1/alerts?rig=r1&severity=low&state=open":    nil,
		"/v1/alerts?rig=r1&state=resolved":             {"r1/c3"},
		"/v1/alerts?rig=r1&severity=high&order=newest": {"r1/c6", "r1/c4", "r1/c1"},
		"/v1/alerts?severity=info":                     nil,
		"/v1/alerts?rig=nope":                          nil,
	} {
		assert.Equal(t, want, pages(a, path, alertKey), path)
	}
	assert.Equal(t, []string{"r1/c7"}, pages(b, "/v1/alerts?rig=r1", alertKey))

	// A cursor of one filter used with another: that filter's items past
	// the cursor's position (rig name, alert id).
	r := e.do("GET", fmt.Sprintf("/v1/rigs?site=%d&limit=2", s1), a.viewer, nil)
	var rp fleetapi.Page[fleetapi.Rig]
	r.decode(t, &rp)
	require.Equal(t, "r2", rp.NextCursor)
	r = e.do("GET", "/v1/rigs?rig_type=x&cursor="+rp.NextCursor, a.viewer, nil)
	require.Equal(t, 200, r.code, "%s", r.body)
	r.decode(t, &rp)
	var names []string
	for _, x := range rp.Items {
		names = append(names, x.RigID)
	}
	assert.Equal(t, []string{"r3", "r5"}, names)

	for path, param := range map[string]string{
		"/v1/rigs?site=abc":             `site "abc"`,
		"/v1/rigs?site=0":               `site "0"`,
		"/v1/rigs?site=-3":              `site "-3"`,
		"/v1/rigs?site=":                `site ""`,
		"/v1/rigs?rig_type=":            `rig_type ""`,
		"/v1/alerts?severity=urgent":    `severity "urgent"`,
		"/v1/alerts?severity=HIGH":      `severity "HIGH"`,
		"/v1/alerts?rig=":               `rig ""`,
		"/v1/alerts?rig=%27%3B--":       `rig "';--"`,
		"/v1/alerts?rig=r1&severity=xx": `severity "xx"`,
	} {
		r := e.do("GET", path, a.viewer, nil)
		require.Equal(t, 400, r.code, "%s: %s", path, r.body)
		assert.Contains(t, r.problem(t).Detail, param, path)
	}
}
