package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Usage is the room of a file system, in bytes.
type Usage struct {
	// Free is what this (unprivileged) user may still write: statfs's
	// available blocks, without the blocks reserved for root.
	Free uint64
	// Size is the file system's data blocks (root's reserve included).
	Size uint64
}

// Stat returns the Usage of the file system holding dir (statfs). It
// blocks as long as the file system takes to answer; see Monitor for a
// bounded wait.
func Stat(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	//nolint:unconvert // field types differ per OS
	bs, avail, blocks := uint64(st.Bsize), uint64(st.Bavail), uint64(st.Blocks)
	return Usage{Free: avail * bs, Size: blocks * bs}, nil
}

// Free returns the bytes available to this (unprivileged) user on the
// file system holding dir: statfs's free blocks for non-root times the
// block size.
func Free(dir string) (uint64, error) {
	u, err := Stat(dir)
	return u.Free, err
}
