// Package releases is rig-cloud's side of signed model releases
// (docs/releases.md): it serves the TUF repository that `rigctl keys init`
// made, re-signs its online roles (snapshot and timestamp) before they
// expire, and publishes releases whose targets metadata the release
// manager signed offline.
//
// # Keys
//
// A Service holds only the snapshot and timestamp keys; New refuses a keys
// folder that also holds a root or targets key of the current root. A
// release adds a target only with targets metadata signed by the targets
// keys the root lists (tufrepo.Repo.Publish checks it), so the online keys
// alone, or a stolen server, cannot introduce a model.
//
// # Replicas
//
// Every replica serves the same folder (a shared volume). Writers hold a
// PostgreSQL transaction-level advisory lock (LockKey) and re-read the
// repository under it; tufrepo writes each file through a temporary file
// and a rename, in the order clients read backwards, so readers (the file
// routes, without the lock) never see a half-written file nor a timestamp
// naming metadata that is not there yet.
//
// PostgreSQL releases the lock when the writer's session ends (a dropped
// connection, a terminated backend) while the writer may still be writing.
// So before each file it puts in place, a writer checks on the locking
// transaction's connection that it still holds the lock, and stops with
// ErrLockLost otherwise (tufrepo.Options.Guard; a check with no answer
// within LockCheckTimeout, a half-open connection, is a lost lock too);
// and since that check and
// the rename are not atomic, tufrepo writes each snapshot, timestamp and
// published targets version once (a hard link that fails when the name is
// taken: tufrepo.ErrVersionTaken), so two replicas never write different
// metadata of one version. Check, run by every replica every
// releases.check_interval, reads without the lock and takes it only when a
// role is due, with pg_try_advisory_xact_lock: when another replica holds
// it, that one does the work.
//
// # Staging
//
// A publication's archive is staged in the repository's hidden .incoming
// folder (never served) and renamed into place. A crash mid-upload leaves
// its file there; Check removes staged files older than StaleAfter.
package releases
