package enroll

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/shared/cloudapi"
)

// The 409 hint says how to re-enroll this rig's own agent while its old
// identity still checks in (stop it, then revoke it or use a token made
// with --replace; the token is kept), not to enroll a second agent id
// with a new token (review r5 finding 2).
func TestRunConflictHintNamesReplace(t *testing.T) {
	f := newFakeCloud(t)
	f.problem = cloudapi.NewProblem("urn:hydrognn:problem:exists", 409,
		`agent "rig-001" of rig "zema-rig-1" checked in within the last 10m0s`)
	_, err := Run(context.Background(), loadConfig(t, f.srv.URL), Options{Token: testToken, Force: true})
	require.Error(t, err)
	for _, w := range []string{
		"stop the old agent",
		"rigctl agents revoke rig-001",
		"rigctl rigs enroll zema-rig-1 --replace rig-001",
		"this token stays usable",
	} {
		assert.Contains(t, err.Error(), w)
	}
	assert.NotContains(t, err.Error(), "with a new token")
}
