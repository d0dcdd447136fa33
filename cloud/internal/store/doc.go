// Package store is rig-cloud's data access on PostgreSQL: credentials,
// organisations, sites, rigs, agents and their enrollment, diagnosis
// ingest and queries, and alerts. It holds every SQL statement of the
// service.
//
// # Tenancy
//
// Every method that reads or writes fleet data takes the caller's
// organisation id and puts it in the statement's WHERE clause (or the
// row it inserts): an object of another organisation is indistinguishable
// from a missing one (ErrNotFound), so the API answers 404 for both and
// existence does not leak.
//
// # Credentials
//
// API tokens (rgt_...), agent credentials (rga_...) and enrollment tokens
// (rge_...) are 32 random bytes, base64url-encoded after the prefix. Only
// their SHA-256 is stored; the token itself is returned once, when made.
//
// Every transaction that revokes a credential notifies RevokedChannel
// (PostgreSQL NOTIFY, delivered at commit) and then calls the OnRevoke
// hook: replicas that cache principals (cloud/internal/authcache) drop
// them at once.
//
// A Store is safe for concurrent use; it owns nothing but a reference to
// the pool (the caller closes the pool).
package store
