package rigctl

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/fleetapi"
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
