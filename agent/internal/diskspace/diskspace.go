// Package diskspace tells how much room is left on a file system: the
// buffer's compaction and the updater's downloads and extractions check it
// before they write, since they share the agent's data disk.
package diskspace

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Free returns the bytes available to this (unprivileged) user on the
// file system holding dir: statfs's free blocks for non-root times the
// block size.
func Free(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil //nolint:unconvert // field types differ per OS
}
