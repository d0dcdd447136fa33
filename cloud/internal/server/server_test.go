package server_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/server"
)

// One pooled connection is a valid config (a worker needs no more), but
// serve refuses it with the auth cache on, before opening the database:
// the cache's listener would hold the only connection.
func TestServeNeedsTwoConnsWithAuthCache(t *testing.T) {
	env := []string{"RIG_CLOUD_DATABASE_URL=postgres://127.0.0.1:1/nowhere"}
	cfg, err := config.Parse("c.yaml", []byte("database:\n  max_conns: 1\n"), env)
	require.NoError(t, err, "a worker's config may have one connection")
	err = server.Serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database.max_conns: 1 leaves no connection for requests")
	assert.ErrorIs(t, err, config.ErrInvalid, "rig-cloud exits 78 (EX_CONFIG) for it, not 1 (restarted)")
}
