// Package blobgc sweeps the blob store of orphans: objects no database
// row names, left when a process died between putting an object and
// committing the row that references it (a data set archive upload, a
// fleet data set build, a training job's bundle).
//
// A sweep (Sweeper.Sweep) holds a PostgreSQL transaction-level advisory
// lock (LockKey; taken with pg_try_advisory_xact_lock, so that while one
// worker sweeps the others skip their turn), walks the keys under Prefix
// (blob.Store's Walk), reads the keys every referencing column holds
// (References) after the walk, and deletes the objects that none holds
// and that were last modified more than MinAge ago. MinAge is more than
// the longest upload (blob.upload_timeout) plus SafetyMargin: an object
// whose upload is in progress, or whose row is about to commit, is never
// swept. Rows are only ever written naming fresh keys (random, or per job
// attempt), so an object that old that no row names stays unnamed.
//
// `rig-cloud worker` sweeps every worker.blob_gc_interval (default 6h; 0
// off) with Run.
package blobgc
