package rigctl

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/diag"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// alerts list shows the newest first (--limit N: the N latest, not the N
// oldest), --oldest the API's default order; list's flags are refused by
// ack and resolve, --limit by rigs status, and a negative --limit is a
// usage error, not "all".
func TestAlertsListNewestFirstAndFlags(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s) // alert 1: pump leakage
	ctx := context.Background()
	c := cloudclient.New(s.URL, admin)
	var en fleetapi.Enrollment
	require.NoError(t, c.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &en))
	var ag cloudapi.EnrollResponse
	require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-002"}, &ag))
	at := time.Date(2025, 3, 2, 12, 0, 0, 0, time.UTC)
	d := diag.Diagnosis{RigID: "zema-1", RigType: "zema-testrig", AgentID: "rig-002", Seq: 1, CreatedAt: at,
		Window: diag.Window{Start: at.Add(-time.Minute), End: at, Steps: 60, Coverage: 1}, Model: diag.ModelRef{Version: "zema-2025.03"},
		Health: 0.4, Status: diag.Healthy, Components: []diag.ComponentHealth{{ID: "valve", Health: 0.4, Status: diag.Healthy}},
		Anomalies: []diag.Anomaly{{Fault: "sticking", Severity: diag.SeverityHigh, Confidence: 0.8, Components: []string{"valve"}}}}
	var br cloudapi.BatchResponse
	require.NoError(t, cloudclient.New(s.URL, ag.Credential).Do(ctx, "POST", cloudapi.PathDiagnoses, nil,
		cloudapi.DiagnosisBatch{AgentID: "rig-002", Diagnoses: []diag.Diagnosis{d}}, &br))
	require.Equal(t, 1, br.Accepted, "%+v", br)

	rigctlEnv(t, s.URL, admin)
	rows := regexp.MustCompile(`(?m)^(\d+)\s+zema-1\s+(\w+)`)
	ids := func(args ...string) []string {
		t.Helper()
		code, stdout, stderr := run(t, append([]string{"alerts", "list"}, args...)...)
		require.Equal(t, ExitOK, code, stderr)
		var out []string
		for _, m := range rows.FindAllStringSubmatch(stdout, -1) {
			out = append(out, m[1]+" "+m[2])
		}
		return out
	}
	assert.Equal(t, []string{"2 valve", "1 pump"}, ids())
	assert.Equal(t, []string{"2 valve"}, ids("--limit", "1"))
	assert.Equal(t, []string{"1 pump", "2 valve"}, ids("--oldest"))

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"alerts", "ack", "1", "--state", "open"}, "flag provided but not defined: -state"},
		{[]string{"alerts", "resolve", "1", "--limit", "5"}, "flag provided but not defined: -limit"},
		{[]string{"rigs", "status", "zema-1", "--limit", "5"}, "flag provided but not defined: -limit"},
		{[]string{"alerts", "list", "--limit", "-1"}, "--limit -1 is negative"},
		{[]string{"rigs", "list", "--limit", "-3"}, "--limit -3 is negative"},
	} {
		code, _, stderr := run(t, tc.args...)
		assert.Equal(t, ExitUsage, code, "%q", tc.args)
		assert.Contains(t, stderr, tc.want, "%q", tc.args)
	}
}
