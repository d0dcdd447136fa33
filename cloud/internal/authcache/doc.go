// Package authcache keeps, for a few seconds, who a bearer credential
// belongs to, so that most of rig-cloud's requests need no PostgreSQL
// lookup of their credential.
//
// A Cache maps the SHA-256 of a credential (never the credential itself)
// to the store.Principal its lookup found. It holds at most MaxEntries;
// when full, the least recently used entry is dropped. An entry is served
// for TTL after its lookup, and never past the token's own expiry
// (Principal.Expires, compared with this process's clock: a clock behind
// PostgreSQL's by d may serve an expiring token d longer). Failed lookups (unknown, revoked or expired
// credentials, database errors) are never kept: each one goes to the
// database again. Concurrent misses of one credential (its clients, when
// its entry expires) share one database lookup (singleflight), which no
// single caller's cancellation ends.
//
// # Revocation
//
// A revoked credential must be refused by every replica on its next
// request. Two paths see to it:
//
//   - In the replica that revokes, the store calls Flush after the
//     revoking transaction commits and before the request answers
//     (store.Store.OnRevoke).
//   - Every revoking transaction also notifies store.RevokedChannel
//     (PostgreSQL NOTIFY). Listen holds one connection of the pool
//     LISTENing on it and flushes the whole cache at each notification.
//
// The cache serves entries only while Listen's connection is listening:
// before it has connected, while it reconnects (capped, jittered backoff)
// and after it has stopped, every lookup goes to the database, and the
// cache is flushed when the connection is made again (notifications sent
// meanwhile are lost). A connection that breaks silently is found by a
// query every Heartbeat; until then, TTL bounds how long another
// replica's revocation may go unseen.
//
// A lookup that started before a flush does not store its result after
// it (each flush starts a new epoch), so a principal read just before a
// revocation committed is not kept past it.
//
// # Metrics
//
// A Cache is a prometheus.Collector of rig_cloud_auth_cache_hits_total,
// rig_cloud_auth_cache_misses_total, rig_cloud_auth_cache_evictions_total,
// rig_cloud_auth_cache_flushes_total{reason="revoke"|"notify"|"listener"},
// and the gauges rig_cloud_auth_cache_entries and
// rig_cloud_auth_cache_listener_up (1 while the listener listens).
//
// A Cache is safe for concurrent use. Principals it returns are copies
// the caller owns.
package authcache
