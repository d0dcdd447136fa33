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
	// Device identifies the file system: the directory's device number
	// (stat's st_dev) as "major:minor", as /proc/self/mountinfo's third
	// field and lsblk's MAJ:MIN write it. Directories with the same Device
	// share one Free and Size; every mounted file system has its own
	// (tmpfs, NFS and overlay ones an anonymous 0:N, which may differ
	// after a reboot). Empty where Stat was not used (tests).
	Device string
}

// Stat returns the Usage of the file system holding dir (statfs, and
// stat for its Device). It blocks as long as the file system takes to
// answer; see Monitor for a bounded wait.
func Stat(dir string) (Usage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return Usage{}, fmt.Errorf("statfs %s: %w", dir, err)
	}
	u := usage(&st)
	var fi unix.Stat_t
	if err := unix.Stat(dir, &fi); err != nil {
		return Usage{}, fmt.Errorf("stat %s (its file system's device): %w", dir, err)
	}
	dev := uint64(fi.Dev) //nolint:unconvert // field types differ per OS
	u.Device = fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	return u, nil
}

// usage is the Usage a statfs answer tells: the available and total block
// counts times the unit they are counted in (blockUnit), as df computes
// its Avail and Size.
func usage(st *unix.Statfs_t) Usage {
	//nolint:unconvert // field types differ per OS
	unit, avail, blocks := blockUnit(st), uint64(st.Bavail), uint64(st.Blocks)
	return Usage{Free: avail * unit, Size: blocks * unit}
}

// Free returns the bytes available to this (unprivileged) user on the
// file system holding dir: statfs's free blocks for non-root times the
// unit they are counted in.
func Free(dir string) (uint64, error) {
	u, err := Stat(dir)
	return u.Free, err
}
