package buffer

import "errors"

// Sentinel errors, matched with errors.Is. Returned errors wrap them with
// the path, the values involved and what to do.
var (
	// ErrClosed is returned by every method called after Close, and by an
	// Append or SetCursor that Close interrupted before its group was
	// handed to the writer.
	ErrClosed = errors.New("buffer: closed")

	// ErrFull is returned by Append when Options.FullPolicy is
	// PolicyReject and the readings of its commit group do not fit under
	// Options.MaxBytes even after removing every released reading.
	// Nothing was stored; the caller must not acknowledge the readings.
	ErrFull = errors.New("buffer: full")

	// ErrDiskFull is returned by Append when the file system has no room
	// left (ENOSPC, EDQUOT) or the data file reached its hard size limit
	// (see Options.MaxFileBytes). Nothing of the failed group was stored;
	// the caller must not acknowledge the readings.
	ErrDiskFull = errors.New("buffer: no space left for the data file")

	// ErrCorrupt is returned by Open when the data file is damaged (bad
	// meta pages, a broken B+tree, a block whose checksum does not
	// match), and by the readers when they meet a damaged block. Open
	// never repairs or wipes a damaged file: the error says how to move it
	// aside (see docs/agent.md, "Buffer recovery").
	ErrCorrupt = errors.New("buffer: data file is corrupted")

	// ErrLocked is returned by Open when another process holds the data
	// file open (bbolt's exclusive file lock).
	ErrLocked = errors.New("buffer: data file is locked by another process")

	// ErrInvalidReading is returned by Append when a reading cannot be
	// stored (empty or over-long sensor id, time outside the years
	// 1678-2262). Nothing of that call was stored.
	ErrInvalidReading = errors.New("buffer: reading cannot be stored")

	// ErrStop may be returned by the function passed to Scan or Range to
	// end the iteration early; Scan and Range then return nil.
	ErrStop = errors.New("buffer: stop iteration")
)
