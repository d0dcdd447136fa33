package db

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// MigrationLockKey is the advisory lock key Migrate holds while it runs
// (the first 8 bytes of sha256("hydrognn rig-cloud migrations")).
const MigrationLockKey int64 = 0x2f1d6c0b5e7a4391

// MigrationLockTimeout is each migration's lock_timeout (SET LOCAL at
// the start of its transaction; a migration may set its own after it):
// a statement that waits longer for a table lock fails the migration
// (SQLSTATE 55P03) instead of waiting behind a long transaction while
// every query on that table queues behind it. The run then fails and
// rolls back that migration; the next start tries again.
const MigrationLockTimeout = 5 * time.Second

// lockWaitLogEvery is how often Migrate logs while it waits for the
// advisory lock.
const lockWaitLogEvery = 10 * time.Second

// Migration is one embedded schema change.
type Migration struct {
	// Version is the file's number (0001_x.sql: 1); versions are unique.
	Version int
	// Name is the file name.
	Name string
	// SQL is the file's content; Checksum its hex SHA-256.
	SQL      string
	Checksum string
}

var fileName = regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	return loadMigrations(migrationFiles, "migrations")
}

func loadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration %s: name is not NNNN_lower_case.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s have the same version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		data, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(data), Checksum: hex.EncodeToString(sum[:])})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	return out, nil
}

// ErrChecksum is returned when an applied migration's file has changed.
var ErrChecksum = errors.New("an applied migration has changed")

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	checksum   text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate applies the pending embedded migrations under the advisory
// lock and returns the versions it applied (none when the database was
// up to date). Each migration runs in its own transaction with its
// schema_migrations row, under MigrationLockTimeout. While another
// session holds the advisory lock, Migrate waits for it (until ctx
// ends) and logs that it waits, then every 10 seconds.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) ([]int, error) {
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	return migrate(ctx, pool, ms, log)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, ms []Migration, log *slog.Logger) (applied []int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer conn.Release()
	if err := lockMigrations(ctx, conn, log); err != nil {
		// The lock may have been granted as ctx ended: end the session.
		_ = conn.Conn().Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("migrate: take the advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx is done.
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", MigrationLockKey); uerr != nil {
			// The session ends with the connection: destroy it so the lock goes too.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, fmt.Errorf("migrate: release the advisory lock: %w", uerr))
		}
	}()
	if _, err := conn.Exec(ctx, createTable); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	done, err := appliedSums(ctx, conn.Conn())
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if sum, ok := done[m.Version]; ok {
			if sum != m.Checksum {
				return applied, fmt.Errorf("migrate: %s: %w (checksum %s in the database, %s in this binary); add a new migration instead", m.Name, ErrChecksum, sum[:12], m.Checksum[:12])
			}
			continue
		}
		log.Info("applying migration", "migration", m.Version, "name", m.Name)
		err := pgx.BeginFunc(ctx, conn.Conn(), func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d", MigrationLockTimeout.Milliseconds())); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", m.Version, m.Name, m.Checksum)
			return err
		})
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "55P03" {
			return applied, fmt.Errorf("migrate: apply %s: waited more than %s for a lock (a long transaction holds a table it changes; "+
				"rolled back, the next start tries again): %w", m.Name, MigrationLockTimeout, err)
		}
		if err != nil {
			return applied, fmt.Errorf("migrate: apply %s: %w", m.Name, err)
		}
		log.Info("migration applied", "migration", m.Version, "name", m.Name)
		applied = append(applied, m.Version)
	}
	return applied, nil
}

// lockMigrations takes the advisory lock on conn, logging while another
// session holds it.
func lockMigrations(ctx context.Context, conn *pgxpool.Conn, log *slog.Logger) error {
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", MigrationLockKey).Scan(&got); err != nil || got {
		return err
	}
	start := time.Now()
	log.Info("waiting for the migration lock: another replica or `rig-cloud migrate` is applying migrations")
	stop := make(chan struct{})
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		t := time.NewTicker(lockWaitLogEvery)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				log.Info("still waiting for the migration lock", "waited", time.Since(start).Round(time.Second).String())
			}
		}
	}()
	_, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", MigrationLockKey)
	close(stop)
	<-logged
	if err == nil {
		log.Info("migration lock taken", "waited", time.Since(start).Round(time.Millisecond).String())
	}
	return err
}

func appliedSums(ctx context.Context, conn *pgx.Conn) (map[int]string, error) {
	rows, err := conn.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	done := map[int]string{}
	var v int
	var sum string
	_, err = pgx.ForEachRow(rows, []any{&v, &sum}, func() error { done[v] = sum; return nil })
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return done, nil
}

// SchemaStatus says how the database's schema compares with this binary's
// migrations.
type SchemaStatus struct {
	// Applied is the number of this binary's migrations applied.
	Applied int
	// Pending lists the versions of this binary not applied yet.
	Pending []int
	// Latest is the highest version applied (0: none); it may be above
	// this binary's own when a newer replica migrated first.
	Latest int
}

// Querier reads: a *pgxpool.Pool, *pgxpool.Conn, *pgx.Conn or pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Status reads schema_migrations with q without locking; a database
// without the table has every migration pending.
func Status(ctx context.Context, q Querier) (SchemaStatus, error) {
	ms, err := Migrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	var st SchemaStatus
	var exists bool
	if err := q.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return st, fmt.Errorf("schema status: %w", err)
	}
	done := map[int]bool{}
	if exists {
		rows, err := q.Query(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return st, fmt.Errorf("schema status: %w", err)
		}
		var v int
		if _, err := pgx.ForEachRow(rows, []any{&v}, func() error { done[v] = true; st.Latest = max(st.Latest, v); return nil }); err != nil {
			return st, fmt.Errorf("schema status: %w", err)
		}
	}
	for _, m := range ms {
		if done[m.Version] {
			st.Applied++
		} else {
			st.Pending = append(st.Pending, m.Version)
		}
	}
	return st, nil
}

// MigrateFS is Migrate with the migrations of another file system
// (folder dir of fsys), for tests and tools.
func MigrateFS(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir string, log *slog.Logger) ([]int, error) {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		return nil, err
	}
	return migrate(ctx, pool, ms, log)
}
