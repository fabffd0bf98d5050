//go:build !windows

package ffmpeg

import (
	"fmt"
	"runtime"
)

// listWindowsMonitors needs user32, which only Windows has.
func listWindowsMonitors() ([]Monitor, error) {
	return nil, fmt.Errorf("cannot list Windows monitors on %s", runtime.GOOS)
}
