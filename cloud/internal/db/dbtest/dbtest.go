// Package dbtest gives each test its own throwaway PostgreSQL database on
// the server at $DATABASE_URL (eval "$(make -s env)" sets it; make test
// does too), so tests run in parallel and never touch other data. Without
// DATABASE_URL the test is skipped with a message saying how to set it
// (it fails under HYDROGNN_REQUIRE_SERVICES=1, as make test sets:
// shared/testenv).
//
// URL and Pool make an empty database: tests of migration itself (the
// advisory lock, rig-cloud migrate, a server migrating at start) use
// them. Migrated does not run the migrations in each test's database: it
// copies a template database (CREATE DATABASE ... TEMPLATE, a file copy)
// that holds every embedded migration. The template is named
// hydrognn_tmpl_<digest>, where the digest is a SHA-256 of templateFormat
// and the embedded migrations' names and checksums, so a changed or added
// migration gets a new template and never a stale one. It is built once
// per server and digest, by whichever test binary needs it first: under a
// PostgreSQL advisory lock (taken in $DATABASE_URL's database, so
// concurrent test binaries of different packages wait for each other), in
// a database of another name that is renamed to the template's name only
// once migrated, so a crashed build is never used. A database left
// invalid by an interrupted DROP (datconnlimit -2) counts as absent and is
// dropped by the next build. Nobody stays connected to the template
// (CREATE DATABASE ... TEMPLATE fails while anyone is), and it is kept
// between runs.
//
// When a binary builds a template, it drops the templates of other
// digests that no other live binary uses: each binary holds, on one
// session kept for its whole life, a shared advisory lock keyed by the
// digest of each template it uses (taken before it first looks for the
// template), and a template is dropped only while its key can be locked
// exclusively. So test binaries of two checkouts with different
// migrations can run at once on one server without dropping each other's
// template; a binary's session (and its locks) ends with it, even when it
// crashes. A copy that still finds its template gone (dropped by an older
// dbtest that took no such lock) builds it again, up to three tries.
//
// Advisory locks are per database: every test run on a server must use
// the same DATABASE_URL database (make env's "test"). Two runs with
// different DATABASE_URL databases on one server do not exclude each
// other, and one's build can kill the other's (the temporary build name
// is fixed per digest and dropped WITH (FORCE) as a crashed leftover).
//
// MigratedTo still migrates an empty database step by step.
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
	"github.com/hydrognn/hydrognn/shared/testenv"
)

// TemplatePrefix starts the name of every template database Migrated
// copies; the migrations' digest follows.
const TemplatePrefix = "hydrognn_tmpl_"

// templateFormat is the version of what a template holds besides the
// migrations' own SQL: the schema_migrations table and rows that
// migrate.go writes (its createTable) and the way it applies migrations.
// It is part of the template's digest. Bump it whenever migrate.go
// changes what it writes, so that no binary copies a template the old
// code built (TestTemplateFormat fails when schema_migrations changes).
const templateFormat = 1

// templateTries is how many times fromTemplate builds and copies a
// template that goes missing in between.
const templateTries = 3

// templateLockKey is the advisory lock key held while a template is
// checked, built and stale ones dropped (the first 8 bytes of
// sha256("hydrognn dbtest template")).
const templateLockKey int64 = 0x5c3e0a9d7f21b486

// baseURL returns $DATABASE_URL, or skips the test (fails it under
// HYDROGNN_REQUIRE_SERVICES=1: shared/testenv).
func baseURL(t testing.TB) string {
	t.Helper()
	return testenv.Env(t, "DATABASE_URL", testenv.PostgreSQL)
}

// URL creates a fresh, empty database and returns its URL; the database
// is dropped (WITH (FORCE)) when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	u, err := create(t, baseURL(t), "")
	if err != nil {
		t.Fatalf("create test database: %v", err)
	}
	return u
}

// createDatabase creates name on the server at base, as a copy of
// template unless that is "".
func createDatabase(ctx context.Context, base, name, template string) error {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	q := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if template != "" {
		q += " TEMPLATE " + pgx.Identifier{template}.Sanitize()
	}
	if _, err := c.Exec(ctx, q); err != nil {
		if template != "" {
			return fmt.Errorf("create database %s from template %s: %w", name, template, err)
		}
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops name if it exists; force ends its sessions first.
func dropDatabase(ctx context.Context, base, name string, force bool) error {
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	q := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize()
	if force {
		q += " WITH (FORCE)"
	}
	if _, err := c.Exec(ctx, q); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// Pool opens a pool on a fresh database (URL), closed when the test ends.
func Pool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	return open(t, URL(t))
}

func open(t testing.TB, u string) (*pgxpool.Pool, string) {
	t.Helper()
	pool, err := db.Open(context.Background(), u, db.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, u
}

// Migrated is Pool with every migration applied: a copy of the template
// database for the embedded migrations (see the package comment).
func Migrated(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	base := baseURL(t)
	ms, err := db.Migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	return open(t, fromTemplate(t, base, TemplatePrefix, ms))
}

// fromTemplate creates the test's database as a copy of the template for
// ms (building it if needed) and returns its URL. When the template has
// gone meanwhile (dropped as stale by a binary with other migrations), it
// is built again, up to templateTries tries in all.
func fromTemplate(t testing.TB, base, prefix string, ms []db.Migration) string {
	t.Helper()
	for try := 1; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		tmpl, err := ensureTemplate(ctx, base, prefix, ms, try > 1)
		cancel()
		if err != nil {
			t.Fatalf("template database: %v", err)
		}
		u, err := create(t, base, tmpl)
		var pe *pgconn.PgError
		if err != nil && try < templateTries && errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
			continue
		}
		if err != nil {
			t.Fatalf("create test database: %v", err)
		}
		return u
	}
}

// create makes a database for the test on the server at base, a copy of
// template (or of the server's default, template1, when it is ""),
// dropped (WITH (FORCE)) when the test ends, and returns its URL.
func create(t testing.TB, base, template string) (string, error) {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("DATABASE_URL: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "hydrognn_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := createDatabase(ctx, base, name, template); err != nil {
		return "", err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dropDatabase(ctx, base, name, true); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String(), nil
}

// TemplateName returns the name of the template database for the
// migrations ms: prefix and the first 16 hex digits of a SHA-256 over
// templateFormat and their versions, names and checksums.
func TemplateName(prefix string, ms []db.Migration) string {
	return templateName(prefix, templateFormat, ms)
}

func templateName(prefix string, format int, ms []db.Migration) string {
	h := sha256.New()
	fmt.Fprintf(h, "format %d\n", format)
	for _, m := range ms {
		fmt.Fprintf(h, "%d\x00%s\x00%s\n", m.Version, m.Name, m.Checksum)
	}
	return prefix + hex.EncodeToString(h.Sum(nil))[:16]
}

// ready remembers the templates this binary has seen complete, by name.
var ready sync.Map

// ensureTemplate returns the name of the template for ms on the server
// at base, building it if it does not exist (or, with recheck, if it has
// gone since this binary last saw it).
func ensureTemplate(ctx context.Context, base, prefix string, ms []db.Migration, recheck bool) (string, error) {
	name := TemplateName(prefix, ms)
	if _, ok := ready.Load(name); ok && !recheck {
		return name, nil
	}
	// Before looking for it: once it is seen, no build drops it.
	if err := users.use(ctx, base, prefix, name); err != nil {
		return "", err
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	// Only a complete template has its name: one that exists is done.
	if ok, err := exists(ctx, c, name); err != nil || ok {
		if ok {
			ready.Store(name, true)
		}
		return name, err
	}
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("take the template lock: %w", err)
	}
	defer func() {
		// The session ends with c (deferred Close) if this fails.
		_, _ = c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey)
	}()
	// Another binary may have built it while this one waited.
	if ok, err := exists(ctx, c, name); err != nil || ok {
		if ok {
			ready.Store(name, true)
		}
		return name, err
	}
	if err := build(ctx, base, name, ms); err != nil {
		return "", err
	}
	ready.Store(name, true)
	dropStale(ctx, c, base, prefix, name)
	return name, nil
}

// exists reports whether the database name exists and is valid: one
// whose DROP was interrupted stays in pg_database with datconnlimit -2
// (PostgreSQL 15.4 and later) and cannot be copied or connected to.
func exists(ctx context.Context, c *pgx.Conn, name string) (bool, error) {
	var ok bool
	if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datconnlimit <> -2)", name).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up database %s: %w", name, err)
	}
	return ok, nil
}

// build migrates a fresh database under a temporary name (a leftover of
// a crashed build is dropped first), closes every connection to it, and
// renames it to name, first dropping an invalid database of that name
// (an interrupted DROP's leftover). The caller holds the template lock
// and has seen no valid database named name.
func build(ctx context.Context, base, name string, ms []db.Migration) error {
	tmp := name + "_building"
	if err := dropDatabase(ctx, base, tmp, true); err != nil {
		return fmt.Errorf("drop a template left half built: %w", err)
	}
	if err := createDatabase(ctx, base, tmp, ""); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if hook, ok := buildHooks.Load(name); ok {
		hook.(func())()
	}
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	u.Path = "/" + tmp
	if err := migrateOnce(ctx, u.String(), ms); err != nil {
		return fmt.Errorf("migrate template %s: %w", tmp, err)
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("drop invalid template %s: %w", name, err)
	}
	// RENAME waits (up to 5 s) for the closed sessions to end.
	if _, err := c.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{tmp}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("rename template %s to %s: %w", tmp, name, err)
	}
	return nil
}

// buildHooks holds, by template name, a func (set by tests) that build
// runs once it has created the database to migrate, before migrating it.
var buildHooks sync.Map

// migrateOnce applies ms to the database at u with a pool of its own,
// closed (every session ended) before it returns.
func migrateOnce(ctx context.Context, u string, ms []db.Migration) error {
	pool, err := db.Open(ctx, u, db.Options{MaxConns: 1})
	if err != nil {
		return err
	}
	defer pool.Close()
	fsys := fstest.MapFS{}
	for _, m := range ms {
		fsys["m/"+m.Name] = &fstest.MapFile{Data: []byte(m.SQL)}
	}
	_, err = db.MigrateFS(ctx, pool, fsys, "m", nil)
	return err
}

// dropStale drops the templates with prefix other than keep (and the
// leftovers of their builds), best effort: one another live binary uses
// (holds the shared lock on its key) or that is being copied stays, for a
// later build to drop.
func dropStale(ctx context.Context, c *pgx.Conn, base, prefix, keep string) {
	rows, err := c.Query(ctx, "SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname <> $2", prefix, keep)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_ = users.dropUnused(ctx, base, prefix, n)
	}
}

// templateKey returns the advisory lock key of the template name (or of
// its build's temporary database): the digest's 16 hex digits after
// prefix, as a 64-bit integer.
func templateKey(prefix, name string) (int64, error) {
	digest := strings.TrimPrefix(name, prefix)
	if len(digest) < 16 || len(digest) == len(name) {
		return 0, fmt.Errorf("database %s is not a template named %s<digest>", name, prefix)
	}
	k, err := strconv.ParseUint(digest[:16], 16, 64)
	if err != nil {
		return 0, fmt.Errorf("database %s is not a template named %s<digest>: %w", name, prefix, err)
	}
	return int64(k), nil
}

// users holds this binary's sessions, one per server (base URL), each
// with a shared advisory lock on the key of every template the binary
// has used, for the binary's whole life.
var users holder

type holder struct {
	mu    sync.Mutex
	conns map[string]*heldConn // by base URL; under mu
}

type heldConn struct {
	conn *pgx.Conn
	held map[string]bool // template names whose key conn holds shared
}

// session returns the session for base, opening one (its locks were lost
// with the last one) when there is none or it has closed. The caller
// holds h.mu.
func (h *holder) session(ctx context.Context, base string) (*heldConn, error) {
	if hc := h.conns[base]; hc != nil && !hc.conn.IsClosed() {
		return hc, nil
	}
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	if h.conns == nil {
		h.conns = map[string]*heldConn{}
	}
	hc := &heldConn{conn: c, held: map[string]bool{}}
	h.conns[base] = hc
	return hc, nil
}

// withSession runs fn under h.mu on the session for base, with the
// advisory-lock key of the template name.
func (h *holder) withSession(ctx context.Context, base, prefix, name string, fn func(hc *heldConn, key int64) error) error {
	key, err := templateKey(prefix, name)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	hc, err := h.session(ctx, base)
	if err != nil {
		return err
	}
	return fn(hc, key)
}

// use takes the shared lock on the key of the template name for the
// binary's life; it waits while a build holds it to drop the template.
func (h *holder) use(ctx context.Context, base, prefix, name string) error {
	return h.withSession(ctx, base, prefix, name, func(hc *heldConn, key int64) error {
		if hc.held[name] {
			return nil
		}
		if _, err := hc.conn.Exec(ctx, "SELECT pg_advisory_lock_shared($1)", key); err != nil {
			return fmt.Errorf("take the shared lock on template %s: %w", name, err)
		}
		hc.held[name] = true
		return nil
	})
}

// dropUnused drops the database name (a template or its build's
// leftover) if no other session holds its key: it locks the key
// exclusively, on this binary's own session (whose shared locks do not
// conflict with it), while it drops.
func (h *holder) dropUnused(ctx context.Context, base, prefix, name string) error {
	return h.withSession(ctx, base, prefix, name, func(hc *heldConn, key int64) error {
		var free bool
		if err := hc.conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&free); err != nil {
			return fmt.Errorf("try the lock on template %s: %w", name, err)
		}
		if !free {
			return nil // another binary uses it
		}
		defer func() {
			_, _ = hc.conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key)
		}()
		return dropDatabase(ctx, base, name, false)
	})
}

// MigratedTo is Pool with the migrations up to version applied, for a
// test of a later migration: it writes the rows as that older schema had
// them, then applies the rest with db.Migrate.
func MigratedTo(t testing.TB, version int) (*pgxpool.Pool, string) {
	t.Helper()
	pool, u := Pool(t)
	ms, err := db.Migrations()
	if err != nil {
		t.Fatalf("migrations: %v", err)
	}
	old := fstest.MapFS{}
	for _, m := range ms {
		if m.Version <= version {
			old["m/"+m.Name] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	if _, err := db.MigrateFS(context.Background(), pool, old, "m", nil); err != nil {
		t.Fatalf("migrate test database to version %d: %v", version, err)
	}
	return pool, u
}
