package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
)

// testPrefix names the templates these tests build, apart from the real
// ones (TemplatePrefix) that other test binaries may be copying.
const testPrefix = "hydrognn_tmpltest_"

func migration(v int, name, sql string) db.Migration {
	sum := sha256.Sum256([]byte(sql))
	return db.Migration{Version: v, Name: name, SQL: sql, Checksum: hex.EncodeToString(sum[:])}
}

// The template's name changes with any migration's content, name or
// number, and only with them.
func TestTemplateNameDigest(t *testing.T) {
	a := []db.Migration{migration(1, "0001_a.sql", "CREATE TABLE a (x int);")}
	assert.Equal(t, TemplateName(TemplatePrefix, a), TemplateName(TemplatePrefix, []db.Migration{migration(1, "0001_a.sql", "CREATE TABLE a (x int);")}))
	assert.True(t, strings.HasPrefix(TemplateName(TemplatePrefix, a), TemplatePrefix))
	assert.LessOrEqual(t, len(TemplateName(TemplatePrefix, a)+"_building"), 63, "PostgreSQL identifiers have 63 bytes at most")
	for _, other := range [][]db.Migration{
		{migration(1, "0001_a.sql", "CREATE TABLE a (x bigint);")},
		{migration(1, "0001_b.sql", "CREATE TABLE a (x int);")},
		{migration(2, "0001_a.sql", "CREATE TABLE a (x int);")},
		append(append([]db.Migration{}, a...), migration(2, "0002_b.sql", "CREATE TABLE b (x int);")),
		nil,
	} {
		assert.NotEqual(t, TemplateName(TemplatePrefix, a), TemplateName(TemplatePrefix, other), "%v", other)
	}
	ms, err := db.Migrations()
	require.NoError(t, err)
	changed := append([]db.Migration{}, ms...)
	changed[len(changed)-1] = migration(changed[len(changed)-1].Version, changed[len(changed)-1].Name, changed[len(changed)-1].SQL+"\n-- changed\n")
	assert.NotEqual(t, TemplateName(TemplatePrefix, ms), TemplateName(TemplatePrefix, changed))
}

// Two databases from Migrated are fully migrated and independent, and
// nobody stays connected to the template they were copied from.
func TestMigratedFromTemplate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, ua := Migrated(t)
	b, ub := Migrated(t)
	require.NotEqual(t, ua, ub)
	ms, err := db.Migrations()
	require.NoError(t, err)
	for _, p := range []*pgxpool.Pool{a, b} {
		st, err := db.Status(ctx, p)
		require.NoError(t, err)
		assert.Empty(t, st.Pending)
		assert.Equal(t, len(ms), st.Applied)
		applied, err := db.Migrate(ctx, p, nil)
		require.NoError(t, err)
		assert.Empty(t, applied, "nothing left to apply")
	}
	_, err = a.Exec(ctx, "CREATE TABLE only_in_a (x int)")
	require.NoError(t, err)
	var reg *string
	require.NoError(t, b.QueryRow(ctx, "SELECT to_regclass('only_in_a')::text").Scan(&reg))
	assert.Nil(t, reg, "a table made in one copy is not in the other")

	tmpl := TemplateName(TemplatePrefix, ms)
	c, err := pgx.Connect(ctx, baseURL(t))
	require.NoError(t, err)
	defer c.Close(ctx)
	var n int
	require.NoError(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", tmpl).Scan(&n))
	assert.Zero(t, n, "sessions connected to the template %s", tmpl)
	require.NoError(t, c.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE datname = $1", tmpl).Scan(&n))
	assert.Equal(t, 1, n, "template %s", tmpl)
}

// Many builders of one new template at once (as test binaries of several
// packages are) build it once, under the lock: none fails. A build left
// half done is not used, and templates of other digests are dropped.
func TestTemplateBuiltOnce(t *testing.T) {
	t.Parallel()
	base := baseURL(t)
	ctx := context.Background()
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("clean up test templates: %v", err)
			return
		}
		defer c.Close(ctx)
		rows, _ := c.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1)", testPrefix)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Errorf("clean up test templates: %v", err)
		}
		for _, n := range names {
			if err := dropDatabase(ctx, base, n, true); err != nil {
				t.Errorf("clean up test templates: %v", err)
			}
		}
	})
	var r [6]byte
	_, _ = rand.Read(r[:])
	// Unique per run, so this run builds it.
	ms := []db.Migration{migration(1, "0001_t.sql", "CREATE TABLE t (x int); INSERT INTO t VALUES (7); -- "+hex.EncodeToString(r[:])+"\nSELECT pg_sleep(0.3);")}
	name := TemplateName(testPrefix, ms)
	// A crashed build's leftover.
	require.NoError(t, createDatabase(ctx, base, name+"_building", ""))

	const n = 6
	var wg sync.WaitGroup
	names := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { names[i], errs[i] = ensureTemplate(ctx, base, testPrefix, ms, true) })
	}
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "builder %d", i)
		assert.Equal(t, name, names[i])
	}
	u := fromTemplate(t, base, testPrefix, ms)
	c, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	var x int
	require.NoError(t, c.QueryRow(ctx, "SELECT x FROM t").Scan(&x))
	assert.Equal(t, 7, x)
	require.NoError(t, c.Close(ctx))

	// A new digest: its build drops the old template.
	ms2 := append(append([]db.Migration{}, ms...), migration(2, "0002_u.sql", "CREATE TABLE u (x int);"))
	u2 := fromTemplate(t, base, testPrefix, ms2)
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer admin.Close(ctx)
	var left []string
	rows, err := admin.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", testPrefix)
	require.NoError(t, err)
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{TemplateName(testPrefix, ms2)}, left)

	// The old one is built again when asked for after that.
	u3 := fromTemplate(t, base, testPrefix, ms)
	for _, s := range []string{u2, u3} {
		p, err := url.Parse(s)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(p.Path, "/hydrognn_test_"), s)
	}
}
