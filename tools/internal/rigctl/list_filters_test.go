package rigctl

import (
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigs list --site --rig-type and alerts list --rig --severity send the
// filters (GET /v1/rigs?site=&rig_type=, GET /v1/alerts?rig=&severity=);
// --site takes a site's name or id; a value the server refuses fails
// naming the parameter.
func TestListFilterFlags(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s) // zema-1 (zema-testrig, no site), alert 1: pump leakage high
	ctx := context.Background()
	c := cloudclient.New(s.URL, admin)
	var site fleetapi.Site
	require.NoError(t, c.Do(ctx, "POST", "/v1/sites", nil, fleetapi.SiteRequest{Name: "plant"}, &site))
	for _, r := range []fleetapi.RigRequest{{RigID: "zema-2", RigType: "other", SiteID: &site.ID}, {RigID: "zema-3", RigType: "zema-testrig", SiteID: &site.ID}} {
		require.NoError(t, c.Do(ctx, "POST", "/v1/rigs", nil, r, nil))
	}
	rigctlEnv(t, s.URL, admin)

	rigRows := regexp.MustCompile(`(?m)^(zema-\d)\s`)
	alertRows := regexp.MustCompile(`(?m)^(\d+)\s+(zema-\d)\s`)
	list := func(re *regexp.Regexp, args ...string) []string {
		t.Helper()
		code, stdout, stderr := run(t, args...)
		require.Equal(t, ExitOK, code, "%q: %s", args, stderr)
		out := []string{}
		for _, m := range re.FindAllStringSubmatch(stdout, -1) {
			out = append(out, m[len(m)-1])
		}
		return out
	}
	assert.Equal(t, []string{"zema-2", "zema-3"}, list(rigRows, "rigs", "list", "--site", "plant"))
	assert.Equal(t, []string{"zema-2", "zema-3"}, list(rigRows, "rigs", "list", "--site", "1"))
	assert.Equal(t, []string{"zema-1", "zema-3"}, list(rigRows, "rigs", "list", "--rig-type", "zema-testrig"))
	assert.Equal(t, []string{"zema-3"}, list(rigRows, "rigs", "list", "--site", "plant", "--rig-type", "zema-testrig", "--limit", "5"))
	assert.Equal(t, []string{"zema-1"}, list(alertRows, "alerts", "list", "--rig", "zema-1"))
	assert.Equal(t, []string{}, list(alertRows, "alerts", "list", "--rig", "zema-2"))
	assert.Equal(t, []string{"zema-1"}, list(alertRows, "alerts", "list", "--severity", "high", "--rig", "zema-1"))
	assert.Equal(t, []string{}, list(alertRows, "alerts", "list", "--severity", "low"))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rigs", "list", "--site", "nowhere"}, `--site: no site named (or numbered) "nowhere"`},
		{[]string{"alerts", "list", "--severity", "urgent"}, `severity "urgent" is not one of info, low, medium, high, critical`},
		{[]string{"alerts", "list", "--rig", "no such rig"}, `rig "no such rig" is not a rig id`},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, ExitFailure, code, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
}
