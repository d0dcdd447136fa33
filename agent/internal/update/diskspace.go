package update

import (
	"errors"
	"fmt"
	"math"
	"os"
	"syscall"

	"github.com/hydrognn/hydrognn/agent/internal/diskspace"
)

// DefaultDiskReserve is Options.DiskReserve's default (and the config
// key update.disk_reserve's): the space a download or an extracted file
// leaves free on the update folder's file system, for the reading buffer
// and the history that share it.
const DefaultDiskReserve = 64 << 20

// checkSpace returns ErrDiskFull, naming what, when Options.Dir's file
// system has less than need bytes plus Options.DiskReserve free; an error
// of the free-space query itself is returned as such.
func (m *Manager) checkSpace(what string, need int64) error {
	free, err := m.opts.FreeSpace(m.opts.Dir)
	if err != nil {
		return fmt.Errorf("update: free space on %s: %w", m.opts.Dir, err)
	}
	if want := need + m.opts.DiskReserve; free < want {
		return fmt.Errorf("%w: %s needs %d bytes and %d kept free (update.disk_reserve, on update.dir's file system), %d are free on %s; tried again at the next check",
			ErrDiskFull, what, need, m.opts.DiskReserve, free, m.opts.Dir)
	}
	return nil
}

// noSpace reports whether err is the file system's refusal for want of
// space (ENOSPC, or EDQUOT for a quota): met after the free-space check
// passed when something else (the reading buffer) filled the disk
// meanwhile.
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// asDiskFull returns err as an ErrDiskFull, what of step, when it is the
// file system's refusal for want of space (noSpace), and err as it is
// otherwise.
func asDiskFull(err error, step string) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !noSpace(err) {
		return err
	}
	return fmt.Errorf("%w: %s: %w (update.dir's file system filled up meanwhile); tried again at the next check", ErrDiskFull, step, err)
}

// FreeSpace is Options.FreeSpace's default: the bytes free for this user
// on dir's file system (statfs, agent/internal/diskspace).
func FreeSpace(dir string) (int64, error) {
	n, err := diskspace.Free(dir)
	return int64(min(n, math.MaxInt64)), err
}

// partSize is the size of the part file at p (0: none yet).
func partSize(p string) (int64, error) {
	fi, err := os.Stat(p)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("update: part file: %w", err)
	}
	return fi.Size(), nil
}
