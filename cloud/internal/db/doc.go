// Package db opens rig-cloud's PostgreSQL pool (pgx/v5) and applies its
// schema: SQL migrations embedded in the binary (migrations/NNNN_name.sql,
// applied in number order, each in its own transaction) and recorded in
// the schema_migrations table with a checksum.
//
// # Many replicas
//
// Migrate takes a PostgreSQL session advisory lock (MigrationLockKey) on
// one connection for the whole run, then reads what is applied and applies
// the rest. Replicas starting together therefore apply each migration
// once: the first holds the lock, the others wait for it and then find
// nothing pending; a replica waiting logs that it waits, then every 10
// seconds. A migration already applied whose file changed (checksum) is
// an error, never re-run: migrations are append-only.
//
// Each migration's transaction starts with SET LOCAL lock_timeout
// (MigrationLockTimeout, 5s): an ALTER TABLE that would wait behind a
// long transaction fails and rolls back (the next start tries again)
// instead of queueing every other query on the table behind it.
//
// # Basics
//
//	pool, err := db.Open(ctx, url, db.Options{MaxConns: 20})
//	defer pool.Close()
//	applied, err := db.Migrate(ctx, pool, logger) // versions applied now
//	st, err := db.Status(ctx, pool)           // for /health/ready: st.Pending == 0 (a pool, a connection or a transaction)
//
// The pool is safe for concurrent use; Close waits for acquired
// connections to be released.
package db
