package main

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/cloud/internal/db/dbtest"
)

// rig-cloud migrate on an empty database applies every embedded migration
// and says how many, exit 0; schema_migrations then holds exactly
// db.Migrations() (what /health/ready checks); a second run applies
// nothing, exit 0, and says so.
func TestMigrateCommandFreshDatabase(t *testing.T) {
	u := dbtest.URL(t) // empty: not the migrated template
	t.Setenv("RIG_CLOUD_DATABASE_URL", u)
	ms, err := db.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)

	var out, errb bytes.Buffer
	require.Equal(t, exitOK, run(context.Background(), []string{"migrate"}, &out, &errb), errb.String())
	last := ms[len(ms)-1].Version
	all := fmt.Sprintf("all %d migrations of this binary (up to version %d) are applied\n", len(ms), last)
	assert.Equal(t, fmt.Sprintf("applied %d migrations (versions %d-%d); ", len(ms), ms[0].Version, last)+all, out.String())

	ctx := context.Background()
	c, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT version, checksum FROM schema_migrations ORDER BY version")
	require.NoError(t, err)
	type row struct {
		Version  int
		Checksum string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	require.NoError(t, err)
	want := make([]row, len(ms))
	for i, m := range ms {
		want[i] = row{m.Version, m.Checksum}
	}
	assert.Equal(t, want, got)

	out.Reset()
	errb.Reset()
	require.Equal(t, exitOK, run(context.Background(), []string{"migrate"}, &out, &errb), errb.String())
	assert.Equal(t, "no migrations to apply: "+all, out.String())
}

// A database rig-cloud migrate cannot reach is a failure at run time,
// exit 1 (the unit restarts it: the database may come up), with an error
// naming the host and port and never the password; a database URL that
// cannot be parsed is a config it refuses, exit 78.
func TestMigrateCommandBadDatabase(t *testing.T) {
	for _, tc := range []struct {
		name, url string
		code      int
		want      []string
	}{
		// Port 1 on the loopback: nothing listens, the connection is refused at once.
		{"unreachable", "postgres://rigcloud:s3cret-pw@127.0.0.1:1/rigcloud?connect_timeout=5", exitFailure,
			[]string{"migrate failed", "127.0.0.1:1/rigcloud"}},
		{"unparseable", "postgres://rigcloud:s3cret-pw@127.0.0.1:notaport/rigcloud", exitConfig,
			[]string{"migrate failed", "database url: cannot be parsed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("RIG_CLOUD_DATABASE_URL", tc.url)
			var out, errb bytes.Buffer
			assert.Equal(t, tc.code, run(context.Background(), []string{"migrate"}, &out, &errb), errb.String())
			for _, w := range tc.want {
				assert.Contains(t, errb.String(), w)
			}
			assert.NotContains(t, errb.String(), "s3cret-pw")
			assert.NotContains(t, out.String()+errb.String(), "applied")
			assert.Empty(t, out.String())
		})
	}
}

func TestVersionRanges(t *testing.T) {
	for _, tc := range []struct {
		vs   []int
		want string
	}{
		{[]int{7}, "7"},
		{[]int{19, 20}, "19, 20"},
		{[]int{1, 2, 3, 4}, "1-4"},
		{[]int{1, 2, 3, 5, 7, 8, 10, 11, 12}, "1-3, 5, 7, 8, 10-12"},
	} {
		assert.Equal(t, tc.want, versionRanges(tc.vs), "%v", tc.vs)
	}
}
