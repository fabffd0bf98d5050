//go:build unix

package srs

import "golang.org/x/sys/unix"

// diskSpace is the space available to srs, and the size, of the
// filesystem holding path.
func diskSpace(path string) (free, total uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	bsize := uint64(st.Bsize) // int64 on Linux, uint32 on macOS
	return uint64(st.Bavail) * bsize, uint64(st.Blocks) * bsize, nil
}
