// Package dbtest gives each test its own throwaway PostgreSQL database on
// the server at $DATABASE_URL (eval "$(make -s env)" sets it; make test
// does too), so tests run in parallel and never touch other data. Without
// DATABASE_URL the test is skipped with a message saying how to set it.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hydrognn/hydrognn/cloud/internal/db"
)

// URL creates a fresh, empty database and returns its URL; the database
// is dropped (WITH (FORCE)) when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("DATABASE_URL")
	if base == "" {
		t.Skip("DATABASE_URL is not set: run `eval \"$(make -s env)\"` (deploy/dev/postgres.sh) or make test")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "hydrognn_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to DATABASE_URL: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pool on a fresh database (URL), closed when the test ends.
func Pool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	u := URL(t)
	pool, err := db.Open(context.Background(), u, db.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool, u
}

// Migrated is Pool with every migration applied.
func Migrated(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	pool, u := Pool(t)
	if _, err := db.Migrate(context.Background(), pool, nil); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return pool, u
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
