package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
	"github.com/hydrognn/hydrognn/shared/fleetapi"
)

// Enrollment tokens made before migration 0015 (which revokes them with
// their maker from then on) by a token revoked before the upgrade are
// refused once the database is migrated, and listed revoked as of their
// maker's revocation; those whose maker expires first expire with it; a
// used one, and one of a live maker, are left as they were (review:
// "pre-upgrade enrollment tokens of revoked makers usable").
func TestPreUpgradeEnrollmentsEndWithTheirMaker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := dbtest.MigratedTo(t, 14)

	// The rows as that schema had them (preUpgradeRig): a maker revoked
	// before the upgrade (as RevokeToken did then: the token alone), one
	// that expires in ten minutes, and a live one.
	orgID, rigID := preUpgradeRig(ctx, t, pool)
	maker := func(name string, expires *time.Time) int64 {
		_, h := store.NewSecret(store.PrefixToken)
		var id int64
		require.NoError(t, pool.QueryRow(ctx, `INSERT INTO api_tokens (org_id, name, role, token_hash, expires_at)
			VALUES ($1, $2, 'operator', $3, $4) RETURNING id`, orgID, name, h, expires).Scan(&id))
		return id
	}
	soon := time.Now().Add(10 * time.Minute).UTC().Truncate(time.Microsecond)
	revoked, expiring, live := maker("leaked", nil), maker("short", &soon), maker("ops", nil)
	enrollment := func(by int64) string {
		secret, h := store.NewSecret(store.PrefixEnrollment)
		_, err := pool.Exec(ctx, `INSERT INTO enrollment_tokens (org_id, rig_id, token_hash, created_by, expires_at)
			VALUES ($1, $2, $3, $4, now() + interval '24 hours')`, orgID, rigID, h, by)
		require.NoError(t, err)
		return secret
	}
	ofRevoked, ofExpiring, ofLive, used := enrollment(revoked), enrollment(expiring), enrollment(live), enrollment(revoked)
	_, err := pool.Exec(ctx, `UPDATE enrollment_tokens SET used_at = now() WHERE token_hash = $1`, store.Hash(used))
	require.NoError(t, err)
	var revokedAt time.Time
	require.NoError(t, pool.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = now() - interval '1 hour' WHERE id = $1 RETURNING revoked_at`,
		revoked).Scan(&revokedAt))

	_, err = db.Migrate(ctx, pool, nil)
	require.NoError(t, err)
	st := store.New(pool)

	assert.ErrorIs(t, st.CheckEnrollment(ctx, ofRevoked), store.ErrBadCredential, "made by a token revoked before the upgrade")
	_, err = st.Enroll(ctx, ofRevoked, "agent-1", "press-1")
	assert.ErrorIs(t, err, store.ErrBadCredential)
	require.NoError(t, st.CheckEnrollment(ctx, ofExpiring), "usable until its maker expires")
	require.NoError(t, st.CheckEnrollment(ctx, ofLive))

	es, err := st.Enrollments(ctx, orgID, "press-1", 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 4)
	assert.Equal(t, "revoked", es[0].State)
	require.NotNil(t, es[0].RevokedAt)
	assert.WithinDuration(t, revokedAt, *es[0].RevokedAt, time.Millisecond, "revoked as of its maker")
	assert.Equal(t, "usable", es[1].State)
	assert.WithinDuration(t, soon, es[1].ExpiresAt, time.Millisecond, "expires with its maker")
	assert.Equal(t, "usable", es[2].State)
	assert.WithinDuration(t, time.Now().Add(24*time.Hour), es[2].ExpiresAt, time.Minute)
	assert.Equal(t, "used", es[3].State)
	assert.Nil(t, es[3].RevokedAt, "a used token stays as it was")

	_, err = st.Enroll(ctx, ofLive, "agent-1", "press-1")
	require.NoError(t, err)

	// Once its maker has expired, the token it capped is refused.
	_, err = pool.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, expiring)
	require.NoError(t, err)
	assert.ErrorIs(t, st.CheckEnrollment(ctx, ofExpiring), store.ErrBadCredential)
}

// An enrollment token is refused while its maker is revoked or expired,
// whatever revoked the maker: here an UPDATE that leaves the enrollment
// token as it is (as RevokeToken did before migration 0015); listed as
// revoked or expired with its maker. One made without a maker is left to
// its own expiry.
func TestEnrollmentRefusedWhileMakerNotLive(t *testing.T) {
	t.Parallel()
	pool, st := newStore(t)
	ctx := context.Background()
	o := newOrg(t, st, "acme", "Acme")
	_, err := st.CreateRig(ctx, o.ID, fleetapi.Rig{RigID: "press-1", RigType: "zema-testrig"})
	require.NoError(t, err)
	tok, _, err := st.CreateToken(ctx, o.ID, "ops", store.RoleOperator, time.Time{})
	require.NoError(t, err)
	byRevoked, err := st.CreateEnrollment(ctx, o.ID, "press-1", tok.ID, time.Hour)
	require.NoError(t, err)
	tok2, _, err := st.CreateToken(ctx, o.ID, "ops2", store.RoleOperator, time.Time{})
	require.NoError(t, err)
	byExpired, err := st.CreateEnrollment(ctx, o.ID, "press-1", tok2.ID, time.Hour)
	require.NoError(t, err)
	none, err := st.CreateEnrollment(ctx, o.ID, "press-1", 0, time.Hour)
	require.NoError(t, err)

	_, err = pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1`, tok.ID)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1`, tok2.ID)
	require.NoError(t, err)

	for _, en := range []*store.Enrollment{byRevoked, byExpired} {
		assert.ErrorIs(t, st.CheckEnrollment(ctx, en.Token), store.ErrBadCredential)
		_, err = st.Enroll(ctx, en.Token, "agent-1", "press-1")
		assert.ErrorIs(t, err, store.ErrBadCredential)
	}
	es, err := st.Enrollments(ctx, o.ID, "press-1", 0, 10)
	require.NoError(t, err)
	require.Len(t, es, 3)
	assert.Equal(t, []string{"revoked", "expired", "usable"}, []string{es[0].State, es[1].State, es[2].State})
	assert.NotNil(t, es[0].RevokedAt)
	n, err := st.RevokeEnrollments(ctx, o.ID, "press-1", byRevoked.ID)
	require.NoError(t, err)
	assert.Zero(t, n, "not usable: nothing to revoke")

	require.NoError(t, st.CheckEnrollment(ctx, none.Token))
	_, err = st.Enroll(ctx, none.Token, "agent-1", "press-1")
	require.NoError(t, err)
}
