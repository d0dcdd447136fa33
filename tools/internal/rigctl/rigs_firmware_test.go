package rigctl

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
	"github.com/hydrognn/hydrognn/shared/rolloutapi"
	"github.com/hydrognn/hydrognn/tools/internal/cloudclient"
)

// rigctl rigs set RIG --firmware-digest D registers the rig's firmware
// digest (PATCH /v1/rigs/RIG): a digest of another form is a usage error,
// "" unregisters it, --json prints the rig, a rig of no one is the
// server's 404.
func TestRigsSetFirmwareDigest(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(EnvServer, s.URL)
	t.Setenv(EnvToken, admin)
	fw := "sha256:" + strings.Repeat("a1", 32)

	code, stdout, stderr := run(t, "rigs", "set", "zema-1", "--firmware-digest", fw)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "rig zema-1: firmware digest "+fw+" registered\n", stdout)
	code, stdout, stderr = run(t, "rigs", "set", "zema-1", "--firmware-digest", "", "--json")
	require.Equal(t, ExitOK, code, stderr)
	var r fleetapi.Rig
	require.NoError(t, json.Unmarshal([]byte(stdout), &r), stdout)
	assert.Equal(t, "zema-1", r.RigID)
	assert.Empty(t, r.FirmwareDigest)
	code, stdout, stderr = run(t, "rigs", "set", "zema-1", "--firmware-digest", "")
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, "rig zema-1: firmware digest none registered\n", stdout)

	code, _, stderr = run(t, "rigs", "set", "zema-1")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, "rigs set: --firmware-digest D is required")
	code, _, stderr = run(t, "rigs", "set", "zema-1", "--firmware-digest", "v1.2")
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, stderr, `rigs set: --firmware-digest "v1.2" is not sha256:<64 lowercase hex>`)
	code, _, stderr = run(t, "rigs", "set", "nope", "--firmware-digest", fw)
	assert.Equal(t, ExitFailure, code)
	assert.Contains(t, stderr, "rigctl: rigs set nope: 404 Not found: PATCH /v1/rigs/nope: no such object in your organisation")
}

// rigctl rigs status shows the rig's registered firmware digest, a line
// when an agent reports another, and each agent's reported digest
// (short, "!" when it differs).
func TestRigsStatusFirmware(t *testing.T) {
	s := startCloud(t)
	admin := seedFleet(t, s)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv(EnvServer, s.URL)
	t.Setenv(EnvToken, admin)
	fwA, fwB := "sha256:"+strings.Repeat("a1", 32), "sha256:"+strings.Repeat("b2", 32)

	code, stdout, stderr := run(t, "rigs", "status", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "firmware     none registered\n")
	assert.NotContains(t, stdout, "firmware mismatch")
	assert.Regexp(t, `(?m)^AGENT\s.*\sFORMATS\s+FIRMWARE$`, stdout)
	assert.Regexp(t, `(?m)^rig-001\s.*\s-$`, stdout)

	ctx := context.Background()
	adm := cloudclient.New(s.URL, admin)
	var en fleetapi.Enrollment
	require.NoError(t, adm.Do(ctx, "POST", "/v1/rigs/zema-1/enrollments", nil, nil, &en))
	var ag cloudapi.EnrollResponse
	require.NoError(t, cloudclient.New(s.URL, en.Token).Do(ctx, "POST", cloudapi.PathEnroll, nil, cloudapi.EnrollRequest{AgentID: "rig-001"}, &ag))
	require.NoError(t, cloudclient.New(s.URL, ag.Credential).Do(ctx, "POST", cloudapi.PathCheckin, nil, cloudapi.CheckinRequest{
		AgentID: "rig-001", RigID: "zema-1", RigType: "zema-testrig", Time: time.Now().UTC(), FirmwareDigest: fwB}, nil))
	code, _, stderr = run(t, "rigs", "set", "zema-1", "--firmware-digest", fwA)
	require.Equal(t, ExitOK, code, stderr)

	code, stdout, stderr = run(t, "rigs", "status", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.Contains(t, stdout, "firmware     "+fwA+" registered\n")
	assert.Contains(t, stdout, "firmware mismatch: an agent reports another firmware digest (FIRMWARE marked !): the firmware changed, "+
		"or the registration is out of date (rigctl rigs set zema-1 --firmware-digest D)\n")
	assert.Regexp(t, `(?m)^rig-001\s+online\s.*\ssha256:b2b2b2b2b2b2!$`, stdout)

	code, _, stderr = run(t, "rigs", "set", "zema-1", "--firmware-digest", fwB)
	require.Equal(t, ExitOK, code, stderr)
	code, stdout, stderr = run(t, "rigs", "status", "zema-1")
	require.Equal(t, ExitOK, code, stderr)
	assert.NotContains(t, stdout, "firmware mismatch")
	assert.Regexp(t, `(?m)^rig-001\s+online\s.*\ssha256:b2b2b2b2b2b2$`, stdout)
}

// rigctl rollout status shows the firmware config a release, and its
// previous one, were made for; a rollout made before the field shows none.
func TestPrintRolloutConfigDigest(t *testing.T) {
	fw := "sha256:" + strings.Repeat("a1", 32)
	r := rolloutapi.Rollout{ID: 3, State: rolloutapi.Running, RigType: "zema-testrig",
		Release:  rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.1.0.tar.gz", Version: "1.1.0", BundleFormat: 1, ConfigDigest: fw},
		Previous: &rolloutapi.Release{Target: "zema-testrig/zema-testrig-1.0.0.tar.gz", Version: "1.0.0", BundleFormat: 1, ConfigDigest: fw}}
	var b strings.Builder
	printRollout(&b, &r)
	assert.Contains(t, b.String(), "release:    zema-testrig/zema-testrig-1.1.0.tar.gz (1.1.0, bundle format 1, firmware config "+fw+")\n")
	assert.Contains(t, b.String(), "previous:   zema-testrig/zema-testrig-1.0.0.tar.gz (1.0.0, bundle format 1, firmware config "+fw+")\n")
	r.Release.ConfigDigest, r.Previous = "", nil
	b.Reset()
	printRollout(&b, &r)
	assert.Contains(t, b.String(), "release:    zema-testrig/zema-testrig-1.1.0.tar.gz (1.1.0, bundle format 1)\n")
}
