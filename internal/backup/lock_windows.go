//go:build windows

package backup

import (
	"os"

	"golang.org/x/sys/windows"
)

// The guide's customers run rcbs on Windows too: LockFileEx is the
// counterpart of flock there, and is released when the process dies.
func tryLock(f *os.File) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, new(windows.Overlapped))
}

func unlock(f *os.File) {
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, new(windows.Overlapped))
}
