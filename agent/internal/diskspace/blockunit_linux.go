package diskspace

import "golang.org/x/sys/unix"

// blockUnit is the size of the blocks statfs counts. On Linux that is
// f_frsize, the fragment size (statfs(2): f_blocks, f_bfree and f_bavail
// are "in units of f_frsize"; df multiplies by it), not f_bsize, the
// preferred I/O size: the two are equal on ext4, xfs and tmpfs but differ
// on some FUSE and network file systems. A file system that leaves
// f_frsize zero (kernels before 2.6) counts in f_bsize.
func blockUnit(st *unix.Statfs_t) uint64 {
	if st.Frsize > 0 {
		return uint64(st.Frsize)
	}
	return uint64(st.Bsize) //nolint:unconvert // field types differ per arch
}
