package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/config"
	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
)

// A bad command line exits 64 (EX_USAGE), a config rig-cloud refuses 78
// (EX_CONFIG), when it is loaded or at the start: neither is the flag
// package's or a Go panic's 2, which the unit restarts; -h exits 0.
func TestCommandLineExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("server:\n  listn: x\n"), 0o600))
	t.Setenv("RIG_CLOUD_DATABASE_URL", "postgres://u@127.0.0.1:1/nowhere")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{}, exitUsage},
		{[]string{"no-such-command"}, exitUsage},
		{[]string{"serve", "--no-such-flag"}, exitUsage},
		{[]string{"worker", "extra"}, exitUsage},
		{[]string{"migrate", "--config"}, exitUsage},
		{[]string{"token"}, exitUsage},
		{[]string{"token", "create", "--system"}, exitUsage},
		{[]string{"token", "create", "--system", "--release", "--name", "x"}, exitUsage},
		{[]string{"token", "create", "--name", "x", "--ttl", "-1h", "--org", "a", "--role", "admin"}, exitUsage},
		{[]string{"token", "list", "--no-such-flag"}, exitUsage},
		{[]string{"token", "revoke"}, exitUsage},
		{[]string{"--help"}, exitOK},
		{[]string{"serve", "-h"}, exitOK},
		{[]string{"token", "create", "-h"}, exitOK},
		{[]string{"--version"}, exitOK},
		{[]string{"serve", "--config", bad}, exitConfig},
		{[]string{"worker", "--config", filepath.Join(dir, "missing.yaml")}, exitConfig},
		{[]string{"token", "list", "--config", bad}, exitConfig},
	} {
		var out, errb bytes.Buffer
		assert.Equal(t, tc.code, run(context.Background(), tc.args, &out, &errb), "%q: %s", tc.args, errb.String())
	}

	// A config serve refuses at its start (one connection with the auth
	// cache on), before it opens the database.
	t.Setenv("RIG_CLOUD_DATABASE_MAX_CONNS", "1")
	var out, errb bytes.Buffer
	assert.Equal(t, exitConfig, run(context.Background(), []string{"serve"}, &out, &errb), errb.String())
	assert.Contains(t, errb.String(), "leaves no connection for requests")
}

// failureCode: only a refused config and a changed migration are kept
// from a restart.
func TestFailureCode(t *testing.T) {
	assert.Equal(t, exitConfig, failureCode(fmt.Errorf("start: %w", config.ErrInvalid)))
	assert.Equal(t, exitSchema, failureCode(fmt.Errorf("migrate: 0001_x.sql: %w", db.ErrChecksum)))
	assert.Equal(t, exitFailure, failureCode(fmt.Errorf("connect: refused")))
}

// An applied migration whose file differs from this binary's is not
// mended by a restart (each start finds the same checksums): rig-cloud
// migrate, serve and worker exit 65 (EX_DATAERR), which the unit does not
// restart, instead of 1 every RestartSec for ever.
func TestChangedMigrationExitsSchema(t *testing.T) {
	pool, u := dbtest.Migrated(t)
	t.Setenv("RIG_CLOUD_DATABASE_URL", u)
	_, err := pool.Exec(context.Background(), "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1")
	require.NoError(t, err)
	for _, cmd := range []string{"migrate", "worker", "serve"} {
		var out, errb bytes.Buffer
		assert.Equal(t, exitSchema, run(context.Background(), []string{cmd}, &out, &errb), "%s: %s", cmd, errb.String())
		assert.Contains(t, errb.String(), "an applied migration has changed", cmd)
	}
}
