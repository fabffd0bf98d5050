//go:build windows

package srs

import "golang.org/x/sys/windows"

// diskSpace is the space available to srs, and the size, of the volume
// holding path.
func diskSpace(path string) (free, total uint64, err error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return 0, 0, err
	}
	var avail, size, totalFree uint64
	if err := windows.GetDiskFreeSpaceEx(p, &avail, &size, &totalFree); err != nil {
		return 0, 0, err
	}
	return avail, size, nil
}
