package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
)

// testPrefix starts the names of the templates these tests build, apart
// from the real ones (TemplatePrefix) that other test binaries may be
// copying; runPrefix adds a part of its own for each test.
const testPrefix = "hydrognn_tmpltest_"

// runPrefix returns a prefix for the templates of one test run of its
// own, so that two runs at once (two checkouts, or -count) neither drop
// nor see each other's templates, and drops every database with it when
// the test ends.
func runPrefix(t *testing.T, base string) string {
	t.Helper()
	var r [4]byte
	_, _ = rand.Read(r[:])
	prefix := testPrefix + hex.EncodeToString(r[:]) + "_"
	t.Cleanup(func() {
		ctx := context.Background()
		for _, n := range databases(t, base, prefix) {
			if err := dropDatabase(ctx, base, n, true); err != nil {
				t.Errorf("clean up test templates: %v", err)
			}
		}
	})
	return prefix
}

// databases lists the databases whose names start with prefix, in order.
func databases(t *testing.T, base, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer c.Close(ctx)
	rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", prefix)
	require.NoError(t, err)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return names
}

// uniqueMigrations returns one migration, different in each call, whose
// table t holds 7 once applied (slowly: it sleeps 0.3 s).
func uniqueMigrations() []db.Migration {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return []db.Migration{migration(1, "0001_t.sql", "CREATE TABLE t (x int); INSERT INTO t VALUES (7); -- "+hex.EncodeToString(r[:])+"\nSELECT pg_sleep(0.3);")}
}

// copyHolds7 copies the template tmpl into a database of its own, checks
// that its table t holds 7 and drops the copy.
func copyHolds7(ctx context.Context, base, tmpl string) error {
	var r [8]byte
	_, _ = rand.Read(r[:])
	name := "hydrognn_test_" + hex.EncodeToString(r[:])
	if err := createDatabase(ctx, base, name, tmpl); err != nil {
		return err
	}
	defer func() { _ = dropDatabase(context.WithoutCancel(ctx), base, name, true) }()
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	c, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	var x int
	if err := c.QueryRow(ctx, "SELECT x FROM t").Scan(&x); err != nil {
		return fmt.Errorf("copy of %s: %w", tmpl, err)
	}
	if x != 7 {
		return fmt.Errorf("copy of %s: t holds %d, not 7", tmpl, x)
	}
	return nil
}

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
	assert.LessOrEqual(t, len(TemplateName(testPrefix+"01234567_", a)+"_building"), 63, "PostgreSQL identifiers have 63 bytes at most")
	assert.NotEqual(t, templateName(TemplatePrefix, 1, a), templateName(TemplatePrefix, 2, a), "templateFormat is in the digest")
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
// packages are) build it once, under the lock: none fails, and each can
// copy the template complete as soon as it returns (a half-built template
// never has its name). A build left half done is not used. A new digest's
// build drops the templates of other digests that no other live binary
// uses, and one dropped is built again when asked for.
func TestTemplateBuiltOnce(t *testing.T) {
	t.Parallel()
	base := baseURL(t)
	ctx := context.Background()
	prefix := runPrefix(t, base)
	ms := uniqueMigrations()
	name := TemplateName(prefix, ms)
	// A crashed build's leftover.
	require.NoError(t, createDatabase(ctx, base, name+"_building", ""))

	const n = 6
	var wg sync.WaitGroup
	names := make([]string, n)
	errs := make([]error, n)
	var returned atomic.Int32
	builder := func(i int) {
		wg.Go(func() {
			names[i], errs[i] = ensureTemplate(ctx, base, prefix, ms, true)
			returned.Add(1)
			if errs[i] == nil {
				errs[i] = copyHolds7(ctx, base, names[i])
			}
		})
	}
	// The others start once the first build has created the database it
	// migrates, before it migrates it, and the build goes on once each of
	// them has returned or waits for the lock: a build that gave the
	// half-built database the template's name would have them copy it
	// empty.
	admin, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer admin.Close(ctx)
	// pg_locks shows a bigint key as its high and low 32 bits.
	lockKey := int64(uint64(templateLockKey))
	var once sync.Once
	buildHooks.Store(name, func() {
		once.Do(func() {
			for i := 1; i < n; i++ {
				builder(i)
			}
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				var waiting int32
				err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
					AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1`,
					lockKey>>32, lockKey&0xffffffff).Scan(&waiting)
				if err == nil && returned.Load()+waiting >= n-1 {
					return
				}
				time.Sleep(time.Millisecond)
			}
			t.Error("the other builders neither returned nor waited for the template lock")
		})
	})
	defer buildHooks.Delete(name)
	builder(0)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i], "builder %d", i)
		assert.Equal(t, name, names[i])
	}
	u := fromTemplate(t, base, prefix, ms)
	c, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	var x int
	require.NoError(t, c.QueryRow(ctx, "SELECT x FROM t").Scan(&x))
	assert.Equal(t, 7, x)
	require.NoError(t, c.Close(ctx))

	// Another live binary uses the template: a new digest's build keeps it.
	other, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer other.Close(ctx)
	key, err := templateKey(prefix, name)
	require.NoError(t, err)
	_, err = other.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", key)
	require.NoError(t, err)
	ms2 := append(append([]db.Migration{}, ms...), migration(2, "0002_u.sql", "CREATE TABLE u (x int);"))
	u2 := fromTemplate(t, base, prefix, ms2)
	assert.ElementsMatch(t, []string{name, TemplateName(prefix, ms2)}, databases(t, base, prefix), "a template another binary uses is kept")

	// That binary has ended: the next build drops both (this binary's own
	// locks do not keep them).
	require.NoError(t, other.Close(ctx))
	ms3 := append(append([]db.Migration{}, ms...), migration(2, "0002_v.sql", "CREATE TABLE v (x int);"))
	fromTemplate(t, base, prefix, ms3)
	assert.Equal(t, []string{TemplateName(prefix, ms3)}, databases(t, base, prefix))

	// The old one is built again when asked for after that.
	u3 := fromTemplate(t, base, prefix, ms)
	for _, s := range []string{u2, u3} {
		p, err := url.Parse(s)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(p.Path, "/hydrognn_test_"), s)
	}
}

// A template left invalid (datconnlimit -2) by a DROP that was cut off
// is not taken as ready: the next binary to need it builds it again,
// dropping the invalid one.
func TestInvalidTemplateRebuilt(t *testing.T) {
	t.Parallel()
	base := baseURL(t)
	ctx := context.Background()
	prefix := runPrefix(t, base)
	ms := uniqueMigrations()
	name, err := ensureTemplate(ctx, base, prefix, ms, false)
	require.NoError(t, err)

	c, err := pgx.Connect(ctx, base)
	require.NoError(t, err)
	defer c.Close(ctx)
	var super bool
	require.NoError(t, c.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
	if !super {
		t.Skip("marking a database invalid needs a superuser")
	}
	// What an interrupted DROP DATABASE leaves (PostgreSQL 15.4 and later).
	_, err = c.Exec(ctx, "UPDATE pg_database SET datconnlimit = -2 WHERE datname = $1", name)
	require.NoError(t, err)
	ready.Delete(name) // as a binary that starts now

	got, err := ensureTemplate(ctx, base, prefix, ms, false)
	require.NoError(t, err)
	assert.Equal(t, name, got)
	require.NoError(t, copyHolds7(ctx, base, got))
	var limit int
	require.NoError(t, c.QueryRow(ctx, "SELECT datconnlimit FROM pg_database WHERE datname = $1", name).Scan(&limit))
	assert.Equal(t, -1, limit, "the template is valid again")
}

// The template's schema_migrations is what migrate.go writes with the
// templateFormat in the digest. When this fails, migrate.go changed what
// it writes: bump templateFormat (so no binary copies a template the old
// code built) and update want.
func TestTemplateFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _ := Migrated(t)
	rows, err := pool.Query(ctx, `SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'schema_migrations' ORDER BY ordinal_position`)
	require.NoError(t, err)
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	want := []string{
		"version integer NO ",
		"name text NO ",
		"checksum text NO ",
		"applied_at timestamp with time zone NO now()",
	}
	assert.Equal(t, want, cols, "schema_migrations changed: bump templateFormat (now %d) and update want", templateFormat)
	assert.Equal(t, 1, templateFormat, "templateFormat changed: check want above matches")
}
