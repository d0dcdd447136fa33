package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// quotas.max_rig_type_versions: 1000 by default, set from the file or the
// environment, refused outside 1..100000 naming the key (review r2
// finding 2: the cap was a constant).
func TestMaxRigTypeVersions(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=" + testURL}
	cfg, err := Parse("c.yaml", nil, env)
	require.NoError(t, err)
	assert.Equal(t, 1000, cfg.Quotas.MaxRigTypeVersions)
	cfg, err = Parse("c.yaml", []byte("quotas:\n  max_rig_type_versions: 5\n"), env)
	require.NoError(t, err)
	assert.Equal(t, 5, cfg.Quotas.MaxRigTypeVersions)
	cfg, err = Parse("c.yaml", nil, append(env, "RIG_CLOUD_QUOTAS_MAX_RIG_TYPE_VERSIONS=7"))
	require.NoError(t, err)
	assert.Equal(t, 7, cfg.Quotas.MaxRigTypeVersions)
	for _, v := range []string{"0", "100001", "-1"} {
		_, err = Parse("c.yaml", []byte("quotas:\n  max_rig_type_versions: "+v+"\n"), env)
		require.ErrorIs(t, err, ErrInvalid, v)
		assert.Contains(t, err.Error(), "c.yaml:2:3: quotas.max_rig_type_versions", v)
	}
	_, err = Parse("c.yaml", []byte("quotas:\n  max_rig_type_version: 5\n"), env)
	require.ErrorIs(t, err, ErrInvalid, "an unknown key")
}
