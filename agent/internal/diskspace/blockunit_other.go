//go:build !linux

package diskspace

import "golang.org/x/sys/unix"

// blockUnit is the size of the blocks statfs counts: on the BSDs and
// macOS, f_bsize, the fundamental block size (their statfs has no
// f_frsize; f_iosize is the preferred I/O size).
func blockUnit(st *unix.Statfs_t) uint64 {
	return uint64(st.Bsize) //nolint:unconvert // field types differ per OS
}
