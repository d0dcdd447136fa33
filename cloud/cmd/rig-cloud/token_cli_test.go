package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
	"github.com/hydrognn/hydrognn/cloud/internal/store"
)

// rig-cloud token list and token revoke reach the deployment's tokens
// (system, release), which no organisation's admin may revoke; a system
// token expires after DefaultSystemTTL unless --ttl says otherwise
// (review r2 F2).
func TestTokenListRevokeCLI(t *testing.T) {
	pool, u := dbtest.Migrated(t)
	t.Setenv("RIG_CLOUD_DATABASE_URL", u)
	ctx := context.Background()
	cli := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, sec, stderr := cli("token", "create", "--system", "--name", "bootstrap")
	require.Equal(t, 0, code, stderr)
	st := store.New(pool)
	p, err := st.TokenPrincipal(ctx, strings.TrimSpace(sec))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(DefaultSystemTTL), p.Expires, time.Minute, "a system token expires by default")
	code, sec2, stderr := cli("token", "create", "--system", "--name", "forever", "--ttl", "0")
	require.Equal(t, 0, code, stderr)
	p2, err := st.TokenPrincipal(ctx, strings.TrimSpace(sec2))
	require.NoError(t, err)
	assert.True(t, p2.Expires.IsZero(), "--ttl 0: no expiry")
	code, _, stderr = cli("token", "create", "--release", "--name", "ci")
	require.Equal(t, 0, code, stderr)

	code, out, stderr := cli("token", "list")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `(?m)^ID\s+NAME\s+ROLE\s+CREATED\s+EXPIRES\s+REVOKED\s+BY\s+LAST-USED$`, out)
	assert.Regexp(t, fmt.Sprintf(`(?m)^%d\s+bootstrap\s+system\s+\S+\s+\d{4}-`, p.TokenID), out)
	assert.Regexp(t, `(?m)^\d+\s+ci\s+release\s`, out)
	assert.NotContains(t, out, "rgt_")

	code, out, stderr = cli("token", "revoke", "--id", fmt.Sprint(p2.TokenID))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, fmt.Sprintf("revoked 1 token(s) [%d]", p2.TokenID))
	_, err = st.TokenPrincipal(ctx, strings.TrimSpace(sec2))
	require.ErrorIs(t, err, store.ErrBadCredential)
	code, _, stderr = cli("token", "revoke", "--id", "999999")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "token 999999: not found")
	code, _, _ = cli("token", "revoke")
	assert.Equal(t, exitUsage, code)
}
