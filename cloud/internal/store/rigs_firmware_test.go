package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// SetRigFirmwareDigest returns the digest it replaced, which the "rig
// edited" log line records: there is no other record of a change that
// clears a firmware_mismatch flag.
func TestSetRigFirmwareDigestOld(t *testing.T) {
	t.Parallel()
	_, st := newStore(t)
	ctx := context.Background()
	o, err := st.CreateOrg(ctx, "fw", "Firmware")
	require.NoError(t, err)
	first, second := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	_, err = st.CreateRig(ctx, o.ID, fleetapi.Rig{RigID: "press-1", RigType: "zema-testrig", FirmwareDigest: first})
	require.NoError(t, err)
	_, err = st.CreateRig(ctx, o.ID, fleetapi.Rig{RigID: "press-2", RigType: "zema-testrig", FirmwareDigest: first})
	require.NoError(t, err)

	r, old, err := st.SetRigFirmwareDigest(ctx, o.ID, "press-1", second)
	require.NoError(t, err)
	assert.Equal(t, first, old)
	assert.Equal(t, second, r.FirmwareDigest)
	assert.Equal(t, "press-1", r.RigID)
	r, old, err = st.SetRigFirmwareDigest(ctx, o.ID, "press-1", "")
	require.NoError(t, err)
	assert.Equal(t, second, old)
	assert.Empty(t, r.FirmwareDigest)
	other, err := st.Rig(ctx, o.ID, "press-2")
	require.NoError(t, err)
	assert.Equal(t, first, other.FirmwareDigest, "another rig changed")

	_, _, err = st.SetRigFirmwareDigest(ctx, o.ID, "press-9", second)
	assert.ErrorIs(t, err, store.ErrNotFound)
	stranger, err := st.CreateOrg(ctx, "other", "Other")
	require.NoError(t, err)
	_, _, err = st.SetRigFirmwareDigest(ctx, stranger.ID, "press-1", second)
	assert.ErrorIs(t, err, store.ErrNotFound)
}
