// Package buffer is the edge agent's durable reading buffer: an
// append-only log of sensor readings in one bbolt file, written by group
// commit, read by sequence number or by time, capped by size and age.
//
// # Basics
//
//	b, err := buffer.Open(ctx, "/var/lib/rig-agent/buffer.db", buffer.Options{Consumers: []string{"forward"}})
//	if err != nil { ... } // errors.Is ErrCorrupt: refuse to start, the message says how to recover
//	defer b.Close()
//	err = b.Append(ctx, readings) // nil: durable (committed and fsynced); only then acknowledge upstream
//	err = b.Scan(ctx, b.Cursor("forward"), func(r buffer.Record) error { ... })
//	err = b.SetCursor(ctx, "forward", lastSent)
//
// # Group commit
//
// One writer goroutine owns every write. Append queues its readings and
// waits; the writer takes what is queued (everything that arrived while
// the previous commit ran), up to Options.GroupCount readings, optionally
// waiting up to Options.GroupDelay for more, encodes the group into
// blocks, and commits it in one
// bbolt transaction, whose commit fsyncs the file. Only then does each
// Append return nil: an acknowledged reading is on disk. bbolt's
// copy-on-write pages and double meta page make a commit atomic, so a
// crash (kill -9, power cut) at any point leaves the last committed state:
// nothing acknowledged is lost and nothing half-written is visible.
// TestKill9 proves it by killing a child process under load.
//
// # Storage
//
// Readings get buffer sequence numbers (Record.Seq): from 1, consecutive,
// in commit order, persisted as the blocks bucket's bbolt sequence so they
// never repeat, across restarts and compactions. Readings are stored in
// blocks of up to Options.BlockReadings consecutive sequence numbers,
// keyed by the first one (8 bytes, big endian); a block is a compact
// binary encoding (sensor ids once per block, delta-encoded times,
// varints; about 12-16 bytes a reading) with a CRC-32C. A time index maps
// (second, block) to nothing, so Range finds the readings of a time span
// without a scan. Consumer cursors ("forwarded up to seq N") are stored in
// the same file and written through the same group commit (SetCursor).
//
// # Caps and the full policy
//
// A reading is released when every cursor in Options.Consumers has
// passed it (the forwarder has sent it). When a commit would take the
// stored bytes above Options.MaxBytes, the oldest readings are removed
// first, which are the released ones; if that is not enough,
// PolicyDropOldest removes the oldest unreleased readings too, and
// PolicyReject refuses the group with ErrFull instead. Readings ingested
// longer ago than Options.MaxAge are removed whether released or not;
// readings committed before a forward step of the wall clock (told by
// the monotonic clock since open) are aged less the step, so such a step
// does not remove them; the step is stored in the file, so this holds
// across a restart (not for a step while the agent is stopped). No
// removal is silent: Stats.Dropped counts them (persisted in the file),
// Options.OnDrop receives each removal, and unreleased drops are logged
// (at most once a minute). A full disk fails the commit: Append returns
// ErrDiskFull and the caller must not acknowledge.
//
// # Compaction
//
// bbolt never shrinks its file: removed blocks become free pages that
// later commits reuse. After a large backlog drains, Compact (run
// automatically at Open and every Options.MaintenanceInterval when free
// pages are at least Options.CompactFreeRatio of a file of at least
// Options.CompactMinBytes) copies the live data into a new file with
// bbolt.Compact, fsyncs it, renames it over the old one and fsyncs the
// directory. Appends wait meanwhile (about the time to copy the live
// data); readers go on.
//
// # Damaged files
//
// Open checks the whole file (bbolt's page check, every block's checksum,
// the stored totals) unless Options.SkipCheck, and refuses a damaged file
// with ErrCorrupt and a message naming the command that moves it aside.
// It never repairs, truncates or wipes a file. See docs/agent.md, "Buffer
// recovery".
//
// # Caveats
//
//   - When Append's context ends, readings the writer has not taken yet
//     are withdrawn; readings it has taken may be committed after Append
//     returned the context's error. Either way Append never reads its
//     slice after returning.
//   - OnDrop and OnCommit run on the writer goroutine: they must be quick
//     and must not call Append, SetCursor or Compact.
//   - One process at a time: bbolt locks the file; a second Open fails
//     with ErrLocked after a second.
package buffer
